"""Metrics, computed by hand on a small election."""

from fractions import Fraction

from tally.engine import metrics, pabulib, registry
from tests.tally.engine.support import FIXTURES_PB

SMALL = """META
key;value
budget;100
vote_type;approval
PROJECTS
project_id;cost
1;60
2;50
3;30
4;10
VOTES
voter_id;vote
a;1,2,3
b;1,2
c;2,4
d;
"""


def test_metrics_by_hand():
    e = pabulib.parse(SMALL)
    out = registry.run("greedy", e)
    assert out.selected == ["2", "4", "3"]  # scores 2:3, 1:2, 3:1, 4:1 -> 2 (50), 1 skipped, 4 (10), 3 (30)
    m = metrics.compute(e, out)
    assert m["total_cost"] == 90
    assert m["budget_used"] == 0.9
    assert m["voters"] == 4
    # a: {2,3}, b: {2}, c: {2,4}, d: {}
    assert m["voters_with_funded_count"] == 3
    assert m["voters_with_funded"] == 0.75
    assert m["avg_funded_per_voter"] == round((2 + 1 + 2 + 0) / 4, 6)
    assert m["avg_budget_share"] == round(float(Fraction(80 + 50 + 60 + 0, 4 * 100)), 6)
    assert m["projects"]["1"] == {"supporters": 2, "score": 2, "funded": False}
    assert m["projects"]["2"] == {"supporters": 3, "score": 3, "funded": True}


def test_points_ballots_count_only_positive_points():
    e = pabulib.read(FIXTURES_PB / "Poland_Czestochowa_2024_Mirow.pb")
    out = registry.run("greedy", e)
    m = metrics.compute(e, out)
    # the file's own `votes` column counts the voters giving each project points
    assert {pid: v["supporters"] for pid, v in m["projects"].items()} == {
        pid: int(p.extra["votes"]) for pid, p in e.instance.projects.items()
    }
    assert 0 < m["voters_with_funded"] <= 1
    assert m["budget_used"] <= 1


def test_effective_support_is_taken_from_rounds_that_report_it():
    e = pabulib.parse(SMALL)
    out = registry.run("greedy", e)
    assert all("effective_support" not in v for v in metrics.compute(e, out)["projects"].values())
    out.rounds[0]["effective_vote_count"] = "7/2"
    out.rounds[0]["effective_decimal"] = "3.500"
    m = metrics.compute(e, out)["projects"][out.rounds[0]["project"]]
    assert (m["effective_support"], m["effective_support_decimal"]) == ("7/2", "3.500")
