"""What the statistics page may show, by phase, made readable (numbers formatted, charts drawn).

- draft: nothing (404, as for an election that does not exist);
- proposals open .. voting open: the activity (proposals, supports, comments), counted now: all public;
- voting closed and after: the stored snapshot (tally.statistics.services), with the turnout;
- published: also the certified count's proportionality figures."""

from __future__ import annotations

from typing import Any

from django.http import Http404
from django.utils.formats import date_format, number_format
from django.utils.translation import gettext as _

from ballots.casting.cells import RULE_VERSION
from ballots.models import Channel
from pb.core.models import Election, Phase
from tally.statistics import services
from tally.statistics.charts import Bar, bar_chart
from tally.statistics.models import StatisticsSnapshot


def statistics_election(slug: str) -> Election:
    election = Election.objects.filter(slug=slug).exclude(phase=Phase.DRAFT).first()
    if election is None:
        raise Http404("No such election.")
    return election


def statistics_data(election: Election) -> dict[str, Any]:
    """The raw statistics for the election's phase (see the module docstring)."""
    if election.phase not in services.TURNOUT_PHASES:
        return {"phase": election.phase, "activity": services.activity_build(election)}
    snap = StatisticsSnapshot.objects.filter(election=election).only("data", "computed_at").first()
    stale = snap is not None and snap.data.get("rule") != RULE_VERSION
    if (
        stale
        or snap is None
        or (snap.data.get("phase") != election.phase and election.phase == Phase.PUBLISHED)
    ):
        # Closed or published before snapshots existed (or by a path without the phase hook), or hidden
        # under an older rule than the results page's (two tables hidden differently can be subtracted
        # from each other): once.
        snap = services.statistics_store(election)
    return snap.data | {"computed_at": snap.computed_at.isoformat()}  # keys the page's cached body


def _n(value: int | None, k: int) -> str:
    return (
        _("hidden (under %(k)s)") % {"k": k} if value is None else number_format(value, force_grouping=True)
    )


def _pct(num: int | float | None, den: int | float = 1) -> str:
    if num is None or not den:
        return "—"
    return f"{number_format(round(100 * num / den, 1), decimal_pos=1)} %"  # number_format cuts, not rounds


def _age_label(key: str) -> str:
    labels = {"under-18": _("under 18"), "75-plus": _("75 and over"), services.UNKNOWN_AGE: _("not known")}
    return labels.get(key, key.replace("-", "\u2013"))


def _day_label(iso: str) -> str:
    import datetime as dt

    return date_format(dt.date.fromisoformat(iso), "SHORT_DATE_FORMAT")


def _activity(activity: dict[str, Any]) -> dict[str, Any]:
    no_category = _("No category")
    pots = activity["pots"]
    cats = [c | {"name": c["name"] or no_category} for c in activity["categories"]]
    return {
        "pots": pots,
        "categories": cats,
        "cross": activity["cross"],
        "supports_total": activity["supports_total"],
        "chart_pots": bar_chart(
            chart_id="chart-proposals-pot",
            title=_("Proposals per district"),
            desc=", ".join(f"{p['name']}: {p['proposals']}" for p in pots),
            bars=[Bar(p["name"], p["proposals"], str(p["proposals"])) for p in pots],
        ),
        "chart_categories": bar_chart(
            chart_id="chart-proposals-category",
            title=_("Proposals per category"),
            desc=", ".join(f"{c['name']}: {c['proposals']}" for c in cats),
            bars=[Bar(c["name"], c["proposals"], str(c["proposals"])) for c in cats],
        ),
    }


def _table(section: dict, pots: list[dict], focus: dict, k: int, labeller, *, key: str, title: str):
    """A pot x column table of suppressed cells as rows of text, and the chart of the focused pot."""
    columns = section["columns"]
    eligible = section.get("eligible")
    rows = []
    for pot in pots:
        cells = section["rows"].get(pot["slug"], {})
        row = []
        for col in columns:
            n = cells.get(col, 0)
            text = _n(n, k)
            if eligible is not None and n is not None:
                text += f" ({_pct(n, eligible[pot['slug']].get(col, 0))})"
            row.append({"value": n, "text": text})
        rows.append({"pot": pot, "cells": row})
    cells = section["rows"].get(focus["slug"], {})
    bars = [Bar(labeller(col), cells.get(col, 0), _n(cells.get(col, 0), k)) for col in columns]
    chart = bar_chart(
        chart_id=f"chart-{key}",
        title=title % {"pot": focus["name"]},
        desc=", ".join(f"{b.label}: {b.text}" for b in bars),
        bars=bars,
    )
    return {"columns": [labeller(c) for c in columns], "rows": rows, "chart": chart}


def statistics_page(election: Election, data: dict[str, Any], *, pot: str = "") -> dict[str, Any]:
    """The page's sections from `statistics_data`; `pot` (a slug already checked) picks the district the
    day and age charts show (the first pot by default)."""
    page: dict[str, Any] = {"activity": _activity(data["activity"]), "turnout": None, "figures": None}
    if "turnout" not in data:
        return page
    k = data["anonymity_k"]
    t = data["turnout"]
    pots = t["pots"]
    focus = next((p for p in pots if p["slug"] == pot), pots[0] if pots else None)
    names = {p["slug"]: p["name"] for p in pots}
    channel_names = dict(Channel.choices)
    channels = [
        {
            "pot": names.get(r["pot"], r["pot"]),
            "channel": _("other (merged)") if r["merged"] else channel_names.get(r["channel"], r["channel"]),
            "booth": r["booth"],
            "n": number_format(r["n"], force_grouping=True),
            "value": r["n"],
        }
        for r in t["channels"]
    ]
    page["turnout"] = {
        "k": k,
        "focus": focus,
        "pots": [
            p | {"voters_text": _n(p["voters"], k), "percent": _pct(p["voters"], p["eligible"])} for p in pots
        ],
        "chart_pots": bar_chart(
            chart_id="chart-turnout-pot",
            title=_("Turnout per district (share of the voters on the roll)"),
            desc=", ".join(f"{p['name']}: {_pct(p['voters'], p['eligible'])}" for p in pots),
            bars=[
                Bar(
                    p["name"],
                    100 * p["voters"] / p["eligible"] if p["eligible"] else 0,
                    _pct(p["voters"], p["eligible"]),
                )
                for p in pots
            ],
        ),
        "channels": channels,
        "chart_channels": bar_chart(
            chart_id="chart-channels",
            title=_("Voters per district and channel"),
            desc=", ".join(f"{c['pot']}, {c['channel']} {c['booth']}: {c['n']}" for c in channels),
            bars=[
                Bar(f"{c['pot']} · {c['channel']} {c['booth']}".strip(), c["value"], c["n"]) for c in channels
            ],
        ),
    }
    if focus is not None:
        page["turnout"]["days"] = _table(
            t["days"], pots, focus, k, _day_label, key="days", title=_("Voters per day in %(pot)s")
        )
        page["turnout"]["ages"] = _table(
            t["ages"], pots, focus, k, _age_label, key="ages", title=_("Voters per age band in %(pot)s")
        )
        page["turnout"]["reference_year"] = t["ages"]["reference_year"]
    if data.get("figures"):
        figures = [
            f
            | {
                "with_funded": _pct(f["voters_with_funded"]),
                "budget_share": _pct(f["avg_budget_share"]),
                "used": _pct(f["budget_used"]),
                "per_voter": "—"
                if f["avg_funded_per_voter"] is None
                else number_format(round(f["avg_funded_per_voter"], 2), decimal_pos=2),
            }
            for f in data["figures"]
        ]
        page["figures"] = {
            "rows": figures,
            "chart": bar_chart(
                chart_id="chart-figures",
                title=_("Share of voters with at least one funded project they voted for"),
                desc=", ".join(f"{f['name']}: {f['with_funded']}" for f in figures),
                bars=[Bar(f["name"], f["voters_with_funded"] or 0, f["with_funded"]) for f in figures],
            ),
        }
    return page
