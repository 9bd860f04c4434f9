"""Greedy rules: properties on random instances against an independent implementation, thresholds, no-skip,
scores for every vote type, and declared, recorded, reproducible tie-breaking."""

from __future__ import annotations

import random

import pytest

from tally.engine import pabulib, registry
from tally.engine.model import Ballot, Election, Instance, Profile, Project
from tally.engine.scoring import ScoringError, project_scores
from tally.engine.ties import TieBreak, seeded_order


def random_approval(rng: random.Random, *, n_projects=None, n_voters=None) -> Election:
    m = n_projects or rng.randint(1, 12)
    n = n_voters or rng.randint(0, 60)
    projects = {
        str(i): Project(id=str(i), cost=rng.choice([1, 2, 5, 10, 20, 40, 80])) for i in range(1, m + 1)
    }
    budget = rng.randint(1, sum(p.cost for p in projects.values()) + 10)
    ballots = [
        Ballot(voter_id=f"v{k}", projects=tuple(rng.sample(sorted(projects), rng.randint(0, min(m, 4)))))
        for k in range(n)
    ]
    meta = {"budget": str(budget), "vote_type": "approval"}
    return Election(Instance(meta, projects), Profile("approval", ballots))


def simple_greedy(e: Election, threshold: int = 0) -> list[str]:
    """Most votes first (ties: lower cost, then lower project id), skip what does not fit, never score 0."""
    votes = {p: 0 for p in e.instance.projects}
    for b in e.profile.ballots:
        for p in b.projects:
            votes[p] += 1
    left = e.instance.budget
    chosen = []
    for p in sorted(votes, key=lambda p: (-votes[p], e.instance.cost(p), int(p))):
        if votes[p] > 0 and votes[p] >= threshold and e.instance.cost(p) <= left:
            chosen.append(p)
            left -= e.instance.cost(p)
    return chosen


@pytest.mark.parametrize("seed", range(200))
def test_greedy_on_approval_equals_most_votes_first(seed):
    rng = random.Random(seed)
    e = random_approval(rng)
    out = registry.run("greedy", e)
    assert out.selected == simple_greedy(e)
    assert out.total_cost == sum(e.instance.cost(p) for p in out.selected) <= e.instance.budget
    # every project is explained: funded, or a reason
    assert set(out.selected) | set(out.unfunded) == set(e.instance.projects)
    assert not set(out.selected) & set(out.unfunded)
    # one round per project, in non-increasing score order
    assert sorted(r["project"] for r in out.rounds) == sorted(e.instance.projects)
    scores = [r["score"] for r in out.rounds]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize("seed", range(50))
@pytest.mark.parametrize("rule_id", ["greedy", "greedy-threshold", "greedy-no-skip"])
def test_same_outcome_when_ballots_are_shuffled_and_never_over_budget(seed, rule_id):
    rng = random.Random(1000 + seed)
    e = random_approval(rng)
    e.instance.meta["min_project_score_threshold"] = str(rng.randint(0, 5))
    out = registry.run(rule_id, e)
    assert out.total_cost <= e.instance.budget
    shuffled = Election(
        e.instance, Profile("approval", rng.sample(e.profile.ballots, len(e.profile.ballots)))
    )
    again = registry.run(rule_id, shuffled)
    assert again.to_json() == out.to_json()


@pytest.mark.parametrize("seed", range(50))
def test_threshold_is_respected(seed):
    rng = random.Random(2000 + seed)
    e = random_approval(rng, n_voters=40)
    threshold = rng.randint(1, 15)
    out = registry.run("greedy-threshold", e, options={"threshold": str(threshold)})
    assert out.selected == simple_greedy(e, threshold)
    for r in out.rounds:
        if r["score"] < threshold and r["score"] > 0:
            assert r["decision"] == "under_threshold"
            assert out.unfunded[r["project"]] == f"score {r['score']} is under the threshold {threshold}"
    assert all(out.scores[p] >= threshold for p in out.selected)


def test_threshold_comes_from_meta_or_is_required():
    e = pabulib.parse(SMALL)
    with pytest.raises(ValueError, match="needs a threshold"):
        registry.run("greedy-threshold", e)
    e.instance.meta["min_project_score_threshold"] = "3"
    out = registry.run("greedy-threshold", e)
    assert out.details["threshold"] == 3
    assert out.selected == ["1"]


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
5;5
VOTES
voter_id;vote
a;1,2,3
b;1,2,3
c;1,2,4
d;1
"""


def test_greedy_skips_and_no_skip_stops():
    e = pabulib.parse(SMALL)
    out = registry.run("greedy", e)
    # scores 1:4, 2:3, 3:2, 4:1, 5:0
    assert out.selected == ["1", "3", "4"]
    decisions = {r["project"]: r["decision"] for r in out.rounds}
    assert decisions == {"1": "funded", "2": "skipped", "3": "funded", "4": "funded", "5": "zero_score"}
    assert out.unfunded["2"] == "did not fit: 40 remaining, cost 50"
    assert "score 0" in out.unfunded["5"]
    stop = registry.run("greedy-no-skip", e)
    assert stop.selected == ["1"]
    assert {r["project"]: r["decision"] for r in stop.rounds} == {
        "1": "funded",
        "2": "skipped",
        "3": "not_reached",
        "4": "not_reached",
        "5": "zero_score",
    }
    assert "counting stopped at project 2" in stop.unfunded["3"]


def test_score_zero_project_is_never_funded_even_if_it_fits():
    e = pabulib.parse(SMALL.replace("budget;100", "budget;1000"))
    out = registry.run("greedy", e)
    assert "5" not in out.selected
    assert out.selected == ["1", "2", "3", "4"]


TIES = """META
key;value
budget;100
vote_type;approval
PROJECTS
project_id;cost
10;40
2;40
3;30
4;90
VOTES
voter_id;vote
a;10,2,3,4
b;10,2,3,4
"""


def test_ties_are_broken_by_the_declared_chain_and_recorded():
    e = pabulib.parse(TIES)
    out = registry.run("greedy", e)
    # all four have 2 votes: lower cost first (3), then 2 and 10 tie on cost -> published id order (2 < 10)
    assert out.selected == ["3", "2"]
    assert [r["project"] for r in out.rounds] == ["3", "2", "10", "4"]
    reasons = [(t.winner, t.reason, t.candidates) for t in out.tie_breaks]
    assert reasons == [
        ("3", "lower cost", ["2", "3", "4", "10"]),
        ("2", "published order", ["2", "4", "10"]),
        ("10", "lower cost", ["4", "10"]),
    ]
    assert all("score 2" in t.context for t in out.tie_breaks)
    # deterministic: same input, same record
    assert registry.run("greedy", e).to_json() == out.to_json()


def test_tie_break_chain_order_only_and_seed_reproducible():
    e = pabulib.parse(TIES)
    ids = list(e.instance.projects)
    tb = TieBreak.parse("order", ids, seed="lot-2026")
    assert tb.order == seeded_order(ids, "lot-2026") == TieBreak.parse("order", ids, seed="lot-2026").order
    out = registry.run("greedy", e, tie_break=tb)
    assert [r["project"] for r in out.rounds] == tb.order
    assert all(t.reason == "published order (seed 'lot-2026')" for t in out.tie_breaks)
    orders = {tuple(TieBreak.parse("order", ids, seed=f"s{k}").order) for k in range(20)}
    assert len(orders) > 1  # the seed matters


def test_cumulative_scores_are_total_points(tmp_path):
    e = pabulib.parse(
        "META\nkey;value\nbudget;100\nvote_type;cumulative\nPROJECTS\nproject_id;cost\n1;60\n2;60\n"
        "VOTES\nvoter_id;vote;points\na;1,2;1,4\nb;1;2\nc;2;0\n"
    )
    scores, how = project_scores(e)
    assert scores == {"1": 3, "2": 4}
    assert how == "total points"
    assert registry.run("greedy", e).selected == ["2"]


ORDINAL = """META
key;value
budget;100
vote_type;ordinal
max_length;3
PROJECTS
project_id;cost
a;50
b;50
c;50
d;50
VOTES
voter_id;vote
1;a,b,c
2;b,c,d
3;c
"""


def test_ordinal_default_points_are_k_minus_i_plus_1():
    e = pabulib.parse(ORDINAL)
    scores, how = project_scores(e)
    assert scores == {"a": 3, "b": 2 + 3, "c": 1 + 2 + 3, "d": 1}
    assert "k = 3" in how
    assert registry.run("greedy", e).selected == ["c", "b"]
    # without max_length, k is the longest ballot
    del e.instance.meta["max_length"]
    assert project_scores(e)[0] == scores


def test_ordinal_points_from_scoring_fn_or_option():
    e = pabulib.parse(ORDINAL.replace("max_length;3", "max_length;3\nscoring_fn;10,1,0"))
    assert project_scores(e)[0] == {"a": 10, "b": 11, "c": 10 + 1, "d": 0}
    assert project_scores(e, {"points": "1,1,1"})[0] == {"a": 1, "b": 2, "c": 3, "d": 1}
    borda = pabulib.parse(ORDINAL.replace("max_length;3", "max_length;3\nscoring_fn;Borda"))
    assert project_scores(borda)[0] == project_scores(pabulib.parse(ORDINAL))[0]
    weird = pabulib.parse(ORDINAL.replace("max_length;3", "max_length;3\nscoring_fn;lambda x: x"))
    with pytest.raises(ScoringError, match="unsupported META scoring_fn"):
        registry.run("greedy", weird)


def test_kraków_scores_match_the_published_score_column():
    from tests.tally.engine.support import FIXTURES_PB

    e = pabulib.read(FIXTURES_PB / "Poland_Krakow_2022_Stare_Miasto.pb")
    scores, _ = project_scores(e)
    assert scores == {pid: int(p.extra["score"]) for pid, p in e.instance.projects.items()}


@pytest.mark.parametrize("rule_id", ["greedy", "greedy-threshold", "greedy-no-skip"])
def test_outcome_is_canonical_json_without_floats(rule_id):
    from tally.engine.canonical import canonical_hash

    e = pabulib.parse(TIES)
    e.instance.meta["min_project_score_threshold"] = "1"
    out = registry.run(rule_id, e)
    assert len(canonical_hash(out.to_json())) == 64
