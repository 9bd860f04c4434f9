"""What every rule returns: the selected projects in funding order, the rounds that explain them, and every
tie-break it used. `to_json()` is the stable shape printed by `python -m tally run --json`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tally.engine import ENGINE_NAME, ENGINE_VERSION


@dataclass
class TieBreakRecord:
    candidates: list[str]  # the tied project ids, before breaking
    winner: str
    reason: str  # e.g. "lower cost", "higher score", "published order"
    context: str = ""  # e.g. "greedy position 4", "MES round 7"

    def to_json(self) -> dict[str, Any]:
        return {
            "candidates": self.candidates,
            "winner": self.winner,
            "reason": self.reason,
            "context": self.context,
        }


@dataclass
class Outcome:
    rule: str
    selected: list[str]  # project ids in the order they were funded
    budget: int
    total_cost: int
    # JSON-able explanation, one dict per round/decision; rules document their own keys, but every round
    # has "project" and "decision" ("funded", "skipped", "under_threshold", "not_affordable", ...), a
    # structured "why" ({"code": ..., numbers...}: `tally.engine.reasons`) and its English "reason".
    rounds: list[dict[str, Any]] = field(default_factory=list)
    tie_breaks: list[TieBreakRecord] = field(default_factory=list)
    # project id -> why it was not funded (every unfunded project has an entry), in English, rendered from
    # `unfunded_why` by `tally.engine.reasons.render`.
    unfunded: dict[str, str] = field(default_factory=dict)
    # project id -> the structured reason: {"code": ..., numbers...} (codes: `tally.engine.reasons`).
    unfunded_why: dict[str, dict[str, Any]] = field(default_factory=dict)
    # rule-specific facts: e.g. {"add1": {"per_voter_budget": "315"}}, {"comparison": {...}}; JSON-able,
    # exact rationals as strings "p/q".
    details: dict[str, Any] = field(default_factory=dict)
    scores: dict[str, int] = field(default_factory=dict)  # project id -> score the rule ranked by / votes

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "selected": list(self.selected),
            "total_cost": self.total_cost,
            "budget": self.budget,
            "rounds": self.rounds,
            "tie_breaks": [t.to_json() for t in self.tie_breaks],
            "unfunded": self.unfunded,
            "unfunded_why": self.unfunded_why,
            "details": self.details,
            "scores": self.scores,
            "engine": {"name": ENGINE_NAME, "version": ENGINE_VERSION},
        }
