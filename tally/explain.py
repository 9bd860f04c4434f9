"""How the results page and the PDF put a counting round, an unfunded project and a tie-break into words.

The one place that turns the engine's output into text. The engine explains every round and every unfunded
project as data (tally.engine.reasons: a code and its numbers, `why` / `unfunded_why`); `why_text` says each
code as a translated sentence a resident can read aloud, with amounts and counts in the reader's format.
Results counted by an older engine carry only the English `reason`: the greedy rounds are still put in
words from their numbers, and anything else keeps the engine's sentence with its numbers localised.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ballots.casting.validation import money

# Decision codes of the engine's rounds (tally.engine.greedy, mes, phragmen), as a reader says them.
DECISIONS = {
    "funded": gettext_lazy("Funded"),
    "funded_by_completion": gettext_lazy("Funded (completion step)"),
    "skipped": gettext_lazy("Did not fit"),
    "not_affordable": gettext_lazy("Did not fit"),
    "under_threshold": gettext_lazy("Under the minimum score"),
    "not_reached": gettext_lazy("Not reached"),
    "zero_score": gettext_lazy("No votes"),
    "stopped": gettext_lazy("Counting stopped"),
}

# The engine's tie-break reasons (tally.engine.ties).
TIE_REASONS = {
    "lower cost": gettext_lazy("lower cost"),
    "higher score": gettext_lazy("higher score"),
    "published order": gettext_lazy("published order"),
}

_GREEDY_SHAPE = ("score", "cost", "remaining_before")


def number(n: int) -> str:
    """A count in the reader's format, grouped as amounts are (one convention per language)."""
    return number_format(n, force_grouping=True)


# A number as the engine writes it ("30,000", "20,460.10", "0.125", "240000"), not inside a word or an id.
_ENGINE_NUMBER = re.compile(r"(?<![\w.,'])(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?![\w]|[.,]\d)")

# The Method of Equal Shares' reasons for an unfunded project (tally.engine.mes), as patterns.
_MES_LEFT = re.compile(
    r"its (?P<n>[\d,]+) supporters had (?P<left>[\d,.]+) left in total, it needed (?P<cost>[\d,]+)"
)
_MES_START = re.compile(
    r"its (?P<n>[\d,]+) supporters had (?P<start>[\d,.]+) at the start \((?P<each>[\d,.]+) each\), "
    r"it needed (?P<cost>[\d,]+)"
)


def _engine_number(text: str) -> str:
    try:
        value = Decimal(text.replace(",", ""))
    except InvalidOperation:
        return text
    decimals = len(text.partition(".")[2])
    return number_format(value, decimal_pos=decimals or None, force_grouping=True)


def localize_numbers(text: str) -> str:
    """An engine sentence with its numbers in the reader's format (its words stay as the engine wrote
    them): the page then shows one number format, not "40.000 EUR" beside "it needed 40,000"."""
    return _ENGINE_NUMBER.sub(lambda m: _engine_number(m.group(0)), text)


def decision_label(code: str) -> str:
    """A round's decision as a reader says it; an unknown code is shown as words, never as "zero_score"."""
    label = DECISIONS.get(code)
    return str(label) if label is not None else str(code).replace("_", " ")


def round_reason(r: dict, currency: str) -> str:
    """Why a round decided what it did, in the reader's language where the round says enough."""
    if text := why_text(r.get("why"), currency):
        return text
    decision, reason = r.get("decision", ""), str(r.get("reason", ""))
    if not all(isinstance(r.get(k), int) for k in _GREEDY_SHAPE):
        return localize_numbers(reason)
    cost, remaining = money(r["cost"], currency), money(r["remaining_before"], currency)
    if decision == "zero_score":
        return _("No votes: a project with no votes is never funded.")
    if decision == "funded":
        return _("Fits: costs %(cost)s, %(remaining)s left.") % {"cost": cost, "remaining": remaining}
    if decision == "skipped":
        text = _("Does not fit: costs %(cost)s, %(remaining)s left.") % {"cost": cost, "remaining": remaining}
        if "counting stops" in reason:
            text += " " + _("Counting stops here (projects are not skipped under this rule).")
        return text
    if decision == "under_threshold" and (m := re.search(r"threshold (\d+)", reason)):
        return _("Score %(score)s is under the minimum score %(threshold)s.") % {
            "score": number(r["score"]),
            "threshold": number(int(m.group(1))),
        }
    if decision == "not_reached" and (m := re.search(r"at project (\S+?),", reason)):
        return _("Not reached: counting stopped at project %(project)s, which did not fit.") % {
            "project": m.group(1)
        }
    return localize_numbers(reason)


def unfunded_reason(
    project_id: str, reason: str, rounds: list[dict], currency: str, why: dict | None = None
) -> str:
    """Why a project was not funded: the engine's structured reason where it gave one, else its round's
    sentence, else the engine's English reason with its numbers localised."""
    if text := why_text(why, currency):
        return text
    for r in rounds:
        if r.get("project") == project_id and r.get("decision") in DECISIONS and r["decision"] != "funded":
            text = round_reason(r, currency)
            if text:
                return text
    if reason.startswith("no votes"):
        return _("No votes: a project with no votes is never funded.")
    if m := _MES_LEFT.fullmatch(reason):
        return _("Its %(n)s supporters had %(left)s left in all; it needed %(cost)s.") % {
            k: _engine_number(v) for k, v in m.groupdict().items()
        }
    if m := _MES_START.fullmatch(reason):
        return _("Its %(n)s supporters had %(start)s at the start (%(each)s each); it needed %(cost)s.") % {
            k: _engine_number(v) for k, v in m.groupdict().items()
        }
    return localize_numbers(reason)


def tie_reason(reason: str) -> str:
    """A tie-break's reason ("lower cost", "published order (seed 'x')") in the reader's language."""
    for key, label in TIE_REASONS.items():
        if reason == key or reason.startswith(key + " "):
            return str(label) + reason[len(key) :]
    return localize_numbers(reason)


def explain_pot(pot: dict, currency: str) -> None:
    """Add the reader's texts to one pot of tally.certification.pdf.pot_views: `reason_text` per unfunded
    project, `decision_text` and `reason_text` per round, `reason_text` per tie-break."""
    rounds = pot.get("rounds", [])
    for project in pot["unfunded"]:
        project["reason_text"] = unfunded_reason(
            project["id"], project.get("reason", ""), rounds, currency, project.get("why")
        )
    pot["rounds"] = [
        r | {"decision_text": decision_label(r.get("decision", "")), "reason_text": round_reason(r, currency)}
        for r in rounds
    ]
    pot["tie_breaks"] = [
        t | {"reason_text": tie_reason(str(t.get("reason", "")))} for t in pot.get("tie_breaks", [])
    ]


def _amount(why: dict, key: str, currency: str) -> str:
    """Money from a reason's fields: the rounded decimal where the value is a fraction, else the integer."""
    value = why.get(f"{key}_decimal", why.get(key))
    if value is None:
        return ""
    if isinstance(value, int):
        return money(value, currency)
    return f"{_engine_number(str(value))} {currency}"


def why_text(why: dict | None, currency: str) -> str:
    """The engine's structured reason (tally.engine.reasons) as a sentence in the reader's language; "" for
    a code this module does not know (the caller then uses the engine's English)."""
    if not isinstance(why, dict):
        return ""
    code = why.get("code")
    m = lambda key: _amount(why, key, currency)  # noqa: E731
    n = lambda key: number(int(why.get(key) or 0))  # noqa: E731
    match code:
        case "funded_fits":
            return _("Funded: it costs %(cost)s and %(left)s was left, so it fit.") % {
                "cost": m("cost"),
                "left": m("remaining_before"),
            }
        case "funded_equal_shares":
            return _(
                "Funded in round %(round)s: its %(n)s supporters had %(before)s left between them after the "
                "projects they also backed were paid for; it costs %(cost)s, and none of them paid more than "
                "%(max)s."
            ) % {
                "round": n("round"),
                "n": n("supporters"),
                "before": m("money_before"),
                "cost": m("cost"),
                "max": m("max_payment"),
            }
        case "funded_completion":
            return _(
                "Funded in the completion step: it still fit in what was left (%(left)s); it costs %(cost)s."
            ) % {
                "left": m("remaining_before"),
                "cost": m("cost"),
            }
        case "funded_least_load":
            return _(
                "Funded in round %(round)s: its %(n)s supporters took on the least new load; "
                "it costs %(cost)s."
            ) % {
                "round": n("round"),
                "n": n("supporters"),
                "cost": m("cost"),
            }
        case "funded_unsupported":
            return _(
                "Funded from the money left at the end, although nobody voted for it; it costs %(cost)s."
            ) % {"cost": m("cost")}
        case "no_support":
            return _("No votes: a project nobody voted for is never funded.")
        case "under_threshold":
            return _("Its score, %(score)s, is under the minimum score of %(threshold)s.") % {
                "score": n("score"),
                "threshold": n("threshold"),
            }
        case "did_not_fit":
            text = _("Did not fit: it costs %(cost)s and only %(left)s was left when its turn came.") % {
                "cost": m("cost"),
                "left": m("remaining"),
            }
            if why.get("stops_counting"):
                text += " " + _("Counting stops here (projects are not skipped under this rule).")
            return text
        case "not_reached":
            return _("Not reached: counting stopped at project %(project)s, which did not fit.") % {
                "project": why.get("stopped_at", "")
            }
        case "stopped_least_load":
            return _(
                "Counting stopped here: it had the least new load but costs %(cost)s and only %(left)s "
                "was left."
            ) % {"cost": m("cost"), "left": m("remaining")}
        case "over_budget":
            return _("It costs %(cost)s, more than the whole budget of %(budget)s.") % {
                "cost": m("cost"),
                "budget": m("budget"),
            }
        case "short_at_start":
            return _(
                "Its %(n)s supporters had %(start)s between them even at the start (%(each)s each); it costs "
                "%(cost)s."
            ) % {
                "n": n("supporters"),
                "start": m("money_start"),
                "each": m("per_voter_budget"),
                "cost": m("cost"),
            }
        case "not_enough_money":
            text = _(
                "Its %(n)s supporters had %(left)s left between them after the projects they also backed "
                "were paid for; it costs %(cost)s."
            ) % {"n": n("supporters"), "left": m("money_left"), "cost": m("cost")}
            if why.get("shared_with"):
                text += " " + _(
                    "%(shared)s of them also supported %(project)s, funded in round %(round)s."
                ) % {
                    "shared": n("shared_supporters"),
                    "project": why["shared_with"],
                    "round": n("shared_with_round"),
                }
            return text
        case "replaced_by_greedy":
            return _(
                "The comparison step chose the other outcome: %(greedy)s voters preferred it, %(mes)s "
                "preferred this one."
            ) % {"greedy": n("prefer_greedy"), "mes": n("prefer_mes")}
        case "unsupported_no_money":
            return _(
                "Nobody voted for it, and what was left (%(left)s) did not cover its cost of %(cost)s."
            ) % {
                "left": m("remaining"),
                "cost": m("cost"),
            }
    return ""
