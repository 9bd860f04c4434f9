"""The fast MES path (floats with error bounds, exact fallback) takes exactly the decisions of exact
rational arithmetic: same winners in the same order and the same tie-break records as `mes_reference`
(pure Fraction), on random small instances built to contain ties and near-ties."""

from __future__ import annotations

import random
from fractions import Fraction

import pytest

from tally.engine import mes
from tally.engine.model import Ballot, Election, Instance, Profile, Project
from tally.engine.ties import TieBreak


def make_election(rng: random.Random, *, vote_type: str = "approval", tie_heavy: bool = False) -> Election:
    n_proj = rng.randint(2, 9)
    n_vot = rng.randint(1, 40)
    costs_pool = [10, 20, 30, 60] if tie_heavy else None
    projects = {}
    for k in range(n_proj):
        cost = rng.choice(costs_pool) if costs_pool else rng.randint(1, 300)
        projects[str(k + 1)] = Project(str(k + 1), cost)
    ids = list(projects)
    ballots = []
    for v in range(n_vot):
        size = rng.randint(0 if not tie_heavy else 1, min(4, n_proj))
        chosen = rng.sample(ids, size)
        if vote_type == "approval":
            ballots.append(Ballot(str(v), tuple(chosen)))
        else:
            pts = tuple(rng.randint(1, 3 if tie_heavy else 6) for _ in chosen)
            ballots.append(Ballot(str(v), tuple(chosen), pts))
    if tie_heavy and n_vot > 2:  # duplicate some ballots: equal supports, equal effective vote counts
        ballots += [Ballot(f"d{i}", b.projects, b.points) for i, b in enumerate(ballots[: n_vot // 2])]
    budget = rng.randint(
        max(1, sum(p.cost for p in projects.values()) // 4), sum(p.cost for p in projects.values())
    )
    inst = Instance(meta={"budget": str(budget), "vote_type": vote_type}, projects=projects)
    return Election(inst, Profile(vote_type, ballots))


def _records(ties):
    return [(t.candidates, t.winner, t.reason, t.context) for t in ties]


@pytest.mark.parametrize("vote_type", ["approval", "cumulative"])
@pytest.mark.parametrize("tie_heavy", [False, True])
def test_fast_path_equals_exact_reference(vote_type, tie_heavy):
    rng = random.Random(f"{vote_type}-{tie_heavy}")
    seen_ties = 0
    for _ in range(150):
        election = make_election(rng, vote_type=vote_type, tie_heavy=tie_heavy)
        data = mes.prepare(election)
        tb = TieBreak.parse(
            rng.choice([None, "order", "score,cost"]), data.ids, seed=rng.choice([None, "s1"])
        )
        if data.n == 0:
            continue
        for per_voter in (
            Fraction(data.budget, data.n),
            Fraction(data.budget // data.n + rng.randint(0, 40)),
        ):
            fast = mes.mes_run(data, per_voter, tb)
            ref_winners, ref_ties = mes.mes_reference(data, per_voter, tb)
            assert fast.winners == ref_winners, (election, per_voter)
            assert _records(fast.ties) == _records(ref_ties)
            seen_ties += len(ref_ties)
    if tie_heavy:
        assert seen_ties > 20  # the crafted instances really exercise the tie-break


def test_exact_tie_between_identical_projects_is_recorded():
    projects = {"1": Project("1", 100), "2": Project("2", 100), "3": Project("3", 50)}
    ballots = [Ballot(str(i), ("1", "2")) for i in range(10)] + [Ballot("x", ("3",))]
    inst = Instance(meta={"budget": "150", "vote_type": "approval"}, projects=projects)
    data = mes.prepare(Election(inst, Profile("approval", ballots)))
    run = mes.mes_run(data, Fraction(150, 11), TieBreak.parse(None, data.ids))
    assert [data.ids[c] for c in run.winners] == ["1"]
    assert len(run.ties) == 1
    assert run.ties[0].candidates == ["1", "2"] and run.ties[0].reason == "published order"


def test_fast_path_equals_reference_on_a_real_election():
    from tally.engine import pabulib
    from tests.tally.engine.support import FIXTURES_PB

    data = mes.prepare(pabulib.read(FIXTURES_PB / "Netherlands_Assen_2024.pb"))
    tb = TieBreak.parse(None, data.ids)
    for b in (data.budget // data.n, 1500, 2033, 2034, Fraction(data.budget, data.n)):
        fast = mes.mes_run(data, b, tb)
        ref, ref_ties = mes.mes_reference(data, b, tb)
        assert fast.winners == ref and _records(fast.ties) == _records(ref_ties)
