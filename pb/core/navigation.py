"""Pages of higher layers that pb.core links to without importing them: each app registers at start-up
(AppConfig.ready), as the phase hooks do.

- TODO_HOOKS: hook(user, election) -> list of {"id", "text", "url"}: what awaits a signed-in official or
  council member in that election (home page, election page).
- PHASE_PAGES: phase -> hook(election) -> url: the page where the step into that phase is taken (e.g. closing
  the vote takes two officials on the tally page); the dashboard's phase button leads there instead of
  offering a move the phase hooks would refuse.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pb.core.models import Election

TODO_HOOKS: list[Callable[[Any, Election], list[dict[str, Any]]]] = []
PHASE_PAGES: dict[str, Callable[[Election], str]] = {}


def todo_for(user, election: Election) -> list[dict[str, Any]]:
    if not getattr(user, "is_authenticated", False):
        return []
    return [item for hook in TODO_HOOKS for item in hook(user, election)]


def phase_page(election: Election, to_phase: str | None) -> str | None:
    hook = PHASE_PAGES.get(to_phase or "")
    return hook(election) if hook else None
