"""The jumping Add1 search (the default) equals the stepping search (the definition: MES at every per-voter
budget from floor(budget / n), one unit at a time): the same projects in the same order, the same ties, the
same final per-voter budget, stop reason and number of steps, and the same budgets at which the outcome
changes, on generated elections built to contain ties (equal costs, equal approval sets, duplicated ballots),
for every ballot type MES counts, both stop options and seeded tie-break orders."""

from __future__ import annotations

import random

import pytest

from tally.engine import mes
from tally.engine.mes.add1_jump import affine_run
from tally.engine.model import Ballot, Election, Instance, Profile, Project
from tally.engine.ties import TieBreak

STEP_CAP = 250  # the stepping reference runs MES this many times at most per instance (time of the file)


def make_election(rng: random.Random, vote_type: str, *, scale: int = 1) -> Election:
    n_proj = rng.randint(2, 9)
    n_vot = rng.randint(2, 30)
    tie_heavy = rng.random() < 0.5
    pool = [rng.randint(1, 40) for _ in range(3)]
    projects = {}
    for k in range(n_proj):
        cost = (rng.choice(pool) if tie_heavy else rng.randint(1, 100)) * scale + rng.randint(0, scale - 1)
        projects[str(k + 1)] = Project(str(k + 1), max(1, cost))
    ids = list(projects)
    if tie_heavy and n_proj > 2:  # two projects with the same cost and (below) the same supporters
        projects[ids[1]] = Project(ids[1], projects[ids[0]].cost)
    ballots = []
    for v in range(n_vot):
        if vote_type == "choose-1":
            chosen = [rng.choice(ids)]
        else:
            chosen = rng.sample(ids, rng.randint(1, min(4, n_proj)))
        if tie_heavy and n_proj > 2 and (ids[0] in chosen) != (ids[1] in chosen):
            chosen = [p for p in chosen if p not in ids[:2]] + ids[:2]
        if vote_type in ("approval", "choose-1"):
            ballots.append(Ballot(str(v), tuple(chosen)))
        else:
            pts = tuple(rng.randint(1, 3 if tie_heavy else 9) for _ in chosen)
            if tie_heavy and ids[0] in chosen:
                pts = tuple(
                    pts[chosen.index(ids[0])] if p == ids[1] else x for p, x in zip(chosen, pts, strict=True)
                )
            ballots.append(Ballot(str(v), tuple(chosen), pts))
    if tie_heavy:  # duplicated ballots: equal supports, equal money, equal prices
        ballots += [Ballot(f"d{i}", b.projects, b.points) for i, b in enumerate(ballots[: n_vot // 2])]
    total = sum(p.cost for p in projects.values())
    budget = rng.randint(max(1, total // 4), total + total // 3)
    inst = Instance(meta={"budget": str(budget), "vote_type": vote_type}, projects=projects)
    return Election(inst, Profile(vote_type, ballots))


def _records(run: mes.MesRun) -> list:
    return [(t.candidates, t.winner, t.reason, t.context) for t in run.ties]


def _same(step: mes.Add1Result, jump: mes.Add1Result) -> None:
    assert jump.disagreements == 0
    assert jump.run.winners == step.run.winners
    assert _records(jump.run) == _records(step.run)
    assert jump.run.per_voter == step.run.per_voter == jump.per_voter == step.per_voter
    assert jump.stop_reason == step.stop_reason
    assert jump.steps == step.steps
    assert jump.changes == step.changes
    assert jump.trace == step.trace


def _tie_break(rng: random.Random, data: mes.MesData) -> TieBreak:
    return TieBreak.parse(
        rng.choice([None, "order", "score,cost", "cost"]), data.ids, seed=rng.choice([None, "s1", "s2"])
    )


VOTE_TYPES = ["approval", "choose-1", "cumulative", "scoring"]


@pytest.mark.parametrize("vote_type", VOTE_TYPES)
def test_jumping_equals_stepping_on_generated_elections(vote_type):
    rng = random.Random(f"add1-jump-{vote_type}")
    compared = skipped = fewer = changed = 0
    while compared < 520:
        scale = rng.choice([1, 1, 7, 100, 1000, 30_000])
        election = make_election(rng, vote_type, scale=scale)
        data = mes.prepare(election)
        tb = _tie_break(rng, data)
        stop = rng.choice(["overspend", "exhaustive"])
        jump = mes.add1(data, tb, stop=stop)
        if jump.steps > STEP_CAP:  # too long for the reference: checked at its end points below instead
            skipped += 1
            _check_end_points(data, tb, jump)
            continue
        step = mes.add1(data, tb, stop=stop, method="step")
        _same(step, jump)
        compared += 1
        fewer += jump.evaluations < step.evaluations
        changed += len(step.changes) > 2
    assert fewer > 200 and changed > 100  # the jumps are real, and the outcomes do change along the search
    assert skipped < compared


def _check_end_points(data: mes.MesData, tb: TieBreak, jump: mes.Add1Result) -> None:
    """Where the stepping search would take too long: MES at every budget where the jump says the outcome
    changes, and one unit before it, has the claimed winners; the kept budget fits, the next overspends."""
    for k, (b, winners) in enumerate(jump.changes):
        assert mes.mes_run(data, b, tb).winners == winners
        if k:
            assert mes.mes_run(data, b - 1, tb).winners == jump.changes[k - 1][1]
    if "over the budget" in jump.stop_reason:
        assert mes.mes_run(data, jump.per_voter + 1, tb).total_cost > data.budget
    assert jump.run.total_cost <= data.budget


@pytest.mark.parametrize("vote_type", VOTE_TYPES)
def test_outcome_lasts_as_long_as_the_affine_run_says(vote_type):
    """affine_run(b).until: MES has the same winners at every budget in [b, until) (checked exhaustively
    on short intervals), and the winners at b are those of the fast run."""
    rng = random.Random(f"until-{vote_type}")
    checked = 0
    for _ in range(40):
        data = mes.prepare(make_election(rng, vote_type, scale=rng.choice([1, 3, 50])))
        tb = _tie_break(rng, data)
        b = data.budget // data.n + rng.randint(0, 30)
        ref, _ = mes.mes_reference(data, b, tb)
        aff = affine_run(data, b, ref, tb, stop_at=0)
        assert aff.complete and aff.consistent
        end = aff.until if aff.until < b + 120 else b + 120
        for x in range(b + 1, int(end)):
            assert mes.mes_reference(data, x, tb)[0] == ref
            checked += 1
    assert checked > 200


def _random_large(seed: str, budget: int, n: int = 100, n_proj: int = 8) -> Election:
    rng = random.Random(seed)
    projects = {
        str(k + 1): Project(str(k + 1), rng.randint(budget // 10, budget // 2)) for k in range(n_proj)
    }
    ids = list(projects)
    ballots = [Ballot(str(v), tuple(rng.sample(ids, rng.randint(1, 4)))) for v in range(n)]
    inst = Instance(meta={"budget": str(budget), "vote_type": "approval"}, projects=projects)
    return Election(inst, Profile("approval", ballots))


def test_a_budget_of_a_trillion_needs_few_mes_runs():
    """100 voters, 8 projects, a budget of 10^12: the stepping search would need ~10^9 runs."""
    data = mes.prepare(_random_large("trillion", 10**12))
    tb = TieBreak.parse(None, data.ids)
    res = mes.add1(data, tb)
    assert res.evaluations < 500
    assert res.steps > 10**6
    _check_end_points(data, tb, res)


@pytest.mark.parametrize("budget", [3_000, 20_000, 1_000_000])
def test_the_same_election_at_a_budget_the_stepping_search_can_do(budget):
    data = mes.prepare(_random_large("trillion", budget))
    tb = TieBreak.parse(None, data.ids)
    for stop in ("overspend", "exhaustive"):
        _same(mes.add1(data, tb, stop=stop, method="step"), mes.add1(data, tb, stop=stop))
