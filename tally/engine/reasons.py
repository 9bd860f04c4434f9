"""Why a rule funded a project or left it out, as data: a reason code and its numbers, and their English.

Every round a rule reports carries `why` = {"code": ..., <fields>}, and every project left unfunded has one
in `Outcome.unfunded_why[pid]`. The English `reason` of a round and `Outcome.unfunded[pid]` are rendered
from that data by `render` (so a translated template can render the same data in another language).

Conventions for the fields: money and counts that are whole numbers are JSON integers; a rational amount is
two strings, the exact value "p/q" (or "n" when whole) under the field's name and a rounded decimal under
`<name>_decimal` (2 places for money, 3 for an effective vote count, 4 for a Phragmén load). JSON floats are
never used (canonical JSON refuses them), so results stay deterministic byte for byte.

Codes and their fields
----------------------
Funded:
- `funded_fits`            greedy rules: it fits in what is left. position, score, cost, remaining_before,
                           remaining_after.
- `funded_equal_shares`    MES (every variant): the least price per unit of utility among affordable
                           projects. round, cost, supporters, score, utilities ("cost" or "points"),
                           per_voter_budget(+_decimal), money_before(+_decimal): the supporters' money before
                           the round, max_payment(+_decimal), effective(+_decimal): cost / max payment (the
                           effective vote count; points: cost / price per point), paid_all: how many
                           supporters paid all they had left.
- `funded_completion`      MES Add1 with utilitarian completion: the highest score among projects that still
                           fit after MES. round, cost, score, remaining_before, remaining_after.
- `funded_least_load`      sequential Phragmén: the least new load. round, cost, supporters,
                           new_load(+_decimal), total_cost_after.
- `funded_unsupported`     nobody supported it, but option `unsupported=fund_if_money_left` funds it from
                           the money left once the rule has finished. cost, remaining_before, remaining_after.

Not funded (also the `why` of greedy and Phragmén rounds that did not fund their project):
- `no_support`             nobody supported it (score 0) and option `unsupported` is `never`: a project
                           nobody voted for has no mandate. supporters (0), option.
- `under_threshold`        greedy-threshold: its score is under the threshold. score, threshold, cost.
- `did_not_fit`            greedy rules: it cost more than what was left when its turn came. position,
                           score, cost, remaining; stops_counting: true for greedy-no-skip (counting stops).
- `not_reached`            counting stopped before its turn (greedy-no-skip, Phragmén). stopped_at: the
                           project it stopped at, stopped_at_cost, remaining; Phragmén also
                           new_load(+_decimal).
- `stopped_least_load`     Phragmén: it had the least new load but did not fit, and Phragmén does not skip.
                           round, cost, remaining, supporters, new_load(+_decimal).
- `over_budget`            it costs more than the whole budget (Phragmén never considers it). cost, budget.
- `short_at_start`         MES: even at the start its supporters together had less than its cost.
                           supporters, cost, per_voter_budget(+_decimal), money_start(+_decimal), and the
                           `shared_with` fields below.
- `not_enough_money`       MES: when the run ended its supporters had less than its cost left (every MES
                           run ends so). supporters, cost, per_voter_budget(+_decimal), money_left(+_decimal),
                           shared_with: the funded project sharing the most of its supporters (where their
                           money most likely went; null if none), shared_with_round, shared_supporters.
- `replaced_by_greedy`     MES with the comparison step: greedy's outcome replaced MES's and does not hold
                           it. measure, prefer_mes, prefer_greedy (numbers of voters).
- `unsupported_no_money`   nobody supported it; option `unsupported=fund_if_money_left`, but what was left
                           did not cover it (or counting had stopped). cost, remaining, option.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

CODES = (
    "funded_fits",
    "funded_equal_shares",
    "funded_completion",
    "funded_least_load",
    "funded_unsupported",
    "no_support",
    "under_threshold",
    "did_not_fit",
    "not_reached",
    "stopped_least_load",
    "over_budget",
    "short_at_start",
    "not_enough_money",
    "replaced_by_greedy",
    "unsupported_no_money",
)
FUNDED_CODES = frozenset(c for c in CODES if c.startswith("funded_"))


def exact(x: Fraction) -> str:
    """A rational as "p/q", or "n" when it is whole."""
    return str(x.numerator) if x.denominator == 1 else f"{x.numerator}/{x.denominator}"


def decimal(x: Fraction, places: int = 2) -> str:
    """A rational rounded (half to even) to `places` decimals, as a string."""
    q = round(x * 10**places)
    sign = "-" if q < 0 else ""
    q = abs(q)
    return f"{sign}{q // 10**places}.{q % 10**places:0{places}d}" if places else f"{sign}{q}"


def amount(name: str, x: Fraction, places: int = 2) -> dict[str, str]:
    """The two fields of a rational amount: name (exact) and name_decimal."""
    return {name: exact(x), f"{name}_decimal": decimal(x, places)}


def why(code: str, **fields: Any) -> dict[str, Any]:
    if code not in CODES:
        raise ValueError(f"undocumented reason code {code!r}")
    return {"code": code, **fields}


def _money(s: str) -> str:
    """Money for people: whole units with thousands separators when exact, else two decimals."""
    x = Fraction(s)
    if x.denominator == 1:
        return f"{x.numerator:,}"
    return f"{float(x):,.2f}"


def render(w: dict[str, Any]) -> str:
    """The English sentence for a reason (the `reason` / `unfunded` strings of the result)."""
    code = w["code"]
    if code == "funded_fits":
        return f"fits: cost {w['cost']} of {w['remaining_before']} remaining"
    if code == "funded_equal_shares":
        what = "vote count" if w["utilities"] == "cost" else "support"
        return (
            f"highest effective {what} {w['effective_decimal']}: its {w['supporters']:,} supporters had "
            f"{_money(w['money_before'])} left, it cost {w['cost']:,}; "
            f"each paid at most {_money(w['max_payment'])}"
        )
    if code == "funded_completion":
        return "utilitarian completion: highest score among projects that still fit"
    if code == "funded_least_load":
        return f"least new load {w['new_load_decimal']} (its {w['supporters']:,} supporters share its cost)"
    if code == "funded_unsupported":
        return (
            f"nobody supported it, but the option unsupported=fund_if_money_left funds it from the money "
            f"left: cost {w['cost']:,} of {w['remaining_before']:,} remaining"
        )
    if code == "no_support":
        return "no votes (score 0): a project nobody supported is never funded"
    if code == "under_threshold":
        return f"score {w['score']} is under the threshold {w['threshold']}"
    if code == "did_not_fit":
        text = f"did not fit: {w['remaining']} remaining, cost {w['cost']}"
        return text + "; counting stops here (no skipping)" if w.get("stops_counting") else text
    if code == "not_reached":
        if "new_load_decimal" in w:
            return "not reached: " + _phragmen_stop(w["stopped_at"], w["stopped_at_cost"], w)
        return f"not reached: counting stopped at project {w['stopped_at']}, which did not fit"
    if code == "stopped_least_load":
        return "stopped here: " + _phragmen_stop(None, w["cost"], w)
    if code == "over_budget":
        return f"costs {w['cost']:,}, more than the whole budget {w['budget']:,}"
    if code == "short_at_start":
        return (
            f"its {w['supporters']:,} supporters had {_money(w['money_start'])} at the start "
            f"({_money(w['per_voter_budget'])} each), it needed {w['cost']:,}"
        )
    if code == "not_enough_money":
        text = (
            f"its {w['supporters']:,} supporters had {_money(w['money_left'])} left in total, "
            f"it needed {w['cost']:,}"
        )
        if w.get("shared_with") is not None:
            text += (
                f" ({w['shared_supporters']:,} of them also supported project {w['shared_with']}, "
                f"funded in round {w['shared_with_round']})"
            )
        return text
    if code == "replaced_by_greedy":
        return "not selected by greedy, whose outcome replaced MES in the comparison step"
    if code == "unsupported_no_money":
        return (
            f"no votes: the option unsupported=fund_if_money_left funds a project nobody supported only "
            f"from the money left, and {w['remaining']:,} was left for its cost {w['cost']:,}"
        )
    raise ValueError(f"undocumented reason code {code!r}")


def _phragmen_stop(project: str | None, cost: int, w: dict[str, Any]) -> str:
    who = f"project {project} has" if project is not None else "it has"
    return (
        f"{who} the least new load {w['new_load_decimal']} but costs {cost:,} with {w['remaining']:,} "
        f"left: counting stops (sequential Phragmén does not skip)"
    )
