"""One registry of counting rules, looked up by id (Pabulib's names where Pabulib has one).

A rule is `fn(election: model.Election, *, tie_break: TieBreak, options: dict) -> Outcome`.
Modules register with the `@rule("id", description=...)` decorator; `load_all()` imports them. `get()`
imports them in order only until the rule is found, so `python -m tally run --rule greedy` does not load
the MES package, nor an MES count the Phragmén module.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from tally.engine.model import Election
from tally.engine.result import Outcome
from tally.engine.ties import TieBreak

RuleFn = Callable[..., Outcome]


@dataclass(frozen=True)
class RuleInfo:
    id: str
    fn: RuleFn
    description: str
    vote_types: tuple[str, ...]


_RULES: dict[str, RuleInfo] = {}
_MODULES = ("tally.engine.greedy", "tally.engine.mes", "tally.engine.phragmen")


def rule(rule_id: str, *, description: str, vote_types: tuple[str, ...]) -> Callable[[RuleFn], RuleFn]:
    def register(fn: RuleFn) -> RuleFn:
        if rule_id in _RULES and _RULES[rule_id].fn is not fn:
            raise ValueError(f"rule {rule_id!r} registered twice")
        _RULES[rule_id] = RuleInfo(rule_id, fn, description, vote_types)
        return fn

    return register


def load_all() -> dict[str, RuleInfo]:
    for mod in _MODULES:
        importlib.import_module(
            mod
        )  # a rule module that fails to import is an error, never a smaller registry
    return dict(_RULES)


class UnknownRule(ValueError):
    pass


def get(rule_id: str) -> RuleInfo:
    for mod in _MODULES:
        if rule_id in _RULES:
            break
        importlib.import_module(mod)
    if rule_id not in _RULES:
        raise UnknownRule(f"unknown rule {rule_id!r}; known rules: {', '.join(sorted(load_all()))}")
    return _RULES[rule_id]


def run(
    rule_id: str,
    election: Election,
    *,
    tie_break: TieBreak | None = None,
    options: dict | None = None,
) -> Outcome:
    info = get(rule_id)
    vt = election.instance.vote_type
    if vt not in info.vote_types:
        raise ValueError(
            f"rule {rule_id!r} does not count {vt!r} ballots (it counts: {', '.join(info.vote_types)})"
        )
    tb = tie_break or TieBreak.parse(None, list(election.instance.projects))
    return info.fn(election, tie_break=tb, options=dict(options or {}))
