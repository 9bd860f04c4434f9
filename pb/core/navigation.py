"""Pages of higher layers that pb.core links to without importing them: each app registers at start-up
(AppConfig.ready), as the phase hooks do.

- TODO_HOOKS: hook(user, election) -> list of {"id", "text", "url"}: what awaits a signed-in official or
  council member in that election (home page, election page).
- PHASE_PAGES: phase -> hook(election) -> url: the page where the step into that phase is taken (e.g. closing
  the vote takes two officials on the tally page); the dashboard's phase button leads there instead of
  offering a move the phase hooks would refuse.
- DASHBOARD_HOOKS: hook(user, election) -> dict merged into the context of the official's dashboard and of the
  phase-change page (proposals adds what waits for review and the import/export buttons).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pb.core.models import Election

TODO_HOOKS: list[Callable[[Any, Election], list[dict[str, Any]]]] = []
PHASE_PAGES: dict[str, Callable[[Election], str]] = {}
DASHBOARD_HOOKS: list[Callable[[Any, Election], dict[str, Any]]] = []


def todo_for(user, election: Election) -> list[dict[str, Any]]:
    if not getattr(user, "is_authenticated", False):
        return []
    return [item for hook in TODO_HOOKS for item in hook(user, election)]


def phase_page(election: Election, to_phase: str | None) -> str | None:
    hook = PHASE_PAGES.get(to_phase or "")
    return hook(election) if hook else None


def dashboard_context(user, election: Election) -> dict[str, Any]:
    context: dict[str, Any] = {}
    for hook in DASHBOARD_HOOKS:
        context.update(hook(user, election))
    return context
