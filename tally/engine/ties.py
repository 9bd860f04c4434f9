"""Declared tie-breaking. Default chain (equalshares.net's recommendation): lower cost, then higher score,
then a published order (project id order by default, or an order drawn from a seed). Ties are never broken by
dict or set order; every tie actually broken is recorded."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from tally.engine.result import TieBreakRecord

CRITERIA = ("cost", "score", "order")


def _id_key(pid: str) -> tuple:
    # Numeric ids sort numerically ("2" < "10"), others as text; mixed: numbers first.
    return (0, int(pid), "") if pid.isdigit() else (1, 0, pid)


def seeded_order(project_ids: Iterable[str], seed: str) -> list[str]:
    """A published pseudo-random order anyone can recompute: sort by SHA-256(seed + ":" + id)."""
    import hashlib  # here: loading OpenSSL costs a count without a seed ~2 ms

    return sorted(project_ids, key=lambda p: (hashlib.sha256(f"{seed}:{p}".encode()).hexdigest(), p))


@dataclass
class TieBreak:
    chain: tuple[str, ...] = CRITERIA
    order: list[str] = field(default_factory=list)  # the published order; empty = project id order
    seed: str | None = None

    @classmethod
    def parse(cls, spec: str | None, project_ids: Sequence[str], seed: str | None = None) -> TieBreak:
        """`spec`: comma list of criteria, e.g. "cost,score,order" (default) or "order"."""
        chain = tuple(c.strip() for c in (spec or ",".join(CRITERIA)).split(",") if c.strip())
        bad = [c for c in chain if c not in CRITERIA]
        if bad:
            raise ValueError(f"unknown tie-break criterion {bad[0]!r}; use {', '.join(CRITERIA)}")
        if "order" not in chain:
            chain = (*chain, "order")  # the last resort is always a published order
        order = seeded_order(project_ids, seed) if seed else sorted(project_ids, key=_id_key)
        return cls(chain=chain, order=order, seed=seed)

    def rank_of(self, pid: str) -> int:
        if not hasattr(self, "_rank"):
            self._rank = {p: i for i, p in enumerate(self.order)}
        return self._rank.get(pid, len(self._rank))

    def key(self, pid: str, *, cost: int, score) -> tuple:
        """Sort key: smaller = preferred, by the chain."""
        parts = []
        for c in self.chain:
            if c == "cost":
                parts.append(cost)
            elif c == "score":
                parts.append(-score)
            else:
                parts.append(self.rank_of(pid))
        return tuple(parts)

    def pick(
        self,
        candidates: Sequence[str],
        *,
        cost: Callable[[str], int],
        score: Callable[[str], object],
        context: str = "",
    ) -> tuple[str, TieBreakRecord | None]:
        """Choose among candidates that the rule itself cannot separate; record how."""
        if len(candidates) == 1:
            return candidates[0], None
        remaining = list(candidates)
        reason = "published order"
        for c in self.chain:
            if c == "cost":
                best = min(cost(p) for p in remaining)
                nxt = [p for p in remaining if cost(p) == best]
                label = "lower cost"
            elif c == "score":
                best = max(score(p) for p in remaining)
                nxt = [p for p in remaining if score(p) == best]
                label = "higher score"
            else:
                nxt = [min(remaining, key=self.rank_of)]
                label = "published order" + (f" (seed {self.seed!r})" if self.seed else "")
            if len(nxt) < len(remaining):
                reason = label
            remaining = nxt
            if len(remaining) == 1:
                break
        winner = remaining[0]
        return winner, TieBreakRecord(
            candidates=sorted(candidates, key=self.rank_of),
            winner=winner,
            reason=reason,
            context=context,
        )

    def describe(self) -> dict:
        return {"chain": list(self.chain), "seed": self.seed, "order": list(self.order)}
