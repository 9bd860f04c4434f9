"""What higher apps hold about an account, exported and erased without pb.core importing them.

An app registers once, in its AppConfig.ready(): `account_data_register(name=..., export=..., erase=...)`.
`export(user)` returns JSON-ready data for the download; `erase(user)` runs inside the deletion's transaction,
before the user row goes, and returns counts for the audit entry (no personal data in them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class AccountDataHook:
    name: str
    export: Callable[[Any], Any]
    erase: Callable[[Any], dict[str, int]]


_HOOKS: dict[str, AccountDataHook] = {}


def account_data_register(
    *, name: str, export: Callable[[Any], Any], erase: Callable[[Any], dict[str, int]]
) -> None:
    """Register (or, under the same name, replace: ready() may run twice in tests) an app's hooks."""
    _HOOKS[name] = AccountDataHook(name=name, export=export, erase=erase)


def account_data_hooks() -> list[AccountDataHook]:
    return [_HOOKS[name] for name in sorted(_HOOKS)]
