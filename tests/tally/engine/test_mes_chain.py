"""MES at a stretch of budgets run as a chain (tally.engine.mes.chain: from the highest budget down, each run
given the certificates of the run above) gives, at every budget, the winners and total cost of `mes_run` at
that budget alone; the fact the certificates rest on (with the same projects funded so far, a lower budget
never has a lower price) holds in exact arithmetic; the certificates really save evaluations; and the Add1
search, which runs its plain stretches as chains, still matches the stepping definition (test_add1_jump.py)
and keeps the tie-break records of `mes_run` for the run it keeps."""

from __future__ import annotations

import importlib
import random
from fractions import Fraction

import pytest

from tally.engine import mes
from tally.engine.mes import chain, fast
from tally.engine.mes.exact import _ExactState
from tally.engine.ties import TieBreak

from .test_add1_jump import VOTE_TYPES, _tie_break, make_election

add1_module = importlib.import_module("tally.engine.mes.add1")  # the module; the package exports add1()


def _stretch(rng: random.Random, data: mes.MesData) -> range:
    b0 = data.budget // data.n
    start = b0 + rng.randint(0, 8)
    return range(start, start + rng.randint(2, 40))


@pytest.mark.parametrize("vote_type", VOTE_TYPES)
def test_a_chain_gives_the_winners_of_single_runs(vote_type):
    """Generated elections built with ties (equal costs, equal supporters, duplicated ballots), every
    ballot type, seeded tie-break orders: every budget of the stretch, the same winners in the same order."""
    rng = random.Random(f"chain-{vote_type}")
    budgets = exact_budgets = changes = 0
    for _ in range(120):
        data = mes.prepare(make_election(rng, vote_type, scale=rng.choice([1, 1, 7, 100, 30_000])))
        tb = _tie_break(rng, data)
        stretch = _stretch(rng, data)
        guide = mes.mes_run(data, stretch.start - 1, tb).winners if rng.random() < 0.5 else None
        got = chain.chain_runs(data, stretch, tb, guide)
        assert sorted(got) == list(stretch)
        previous = None
        for x in stretch:
            ref = mes.mes_run(data, x, tb)
            assert got[x] == (ref.winners, ref.total_cost), (x, got[x], ref.winners)
            budgets += 1
            exact_budgets += ref.exact_rounds > 0
            changes += previous is not None and ref.winners != previous
            previous = ref.winners
    # the stretches cross budgets where the outcome changes, and budgets that floats alone cannot decide
    assert budgets > 2000 and changes > 40 and exact_budgets > 100


def _crafted(rng: random.Random) -> mes.MesData:
    """Near-ties: costs and supports chosen so that prices differ by one unit in a large denominator."""
    from tally.engine.model import Ballot, Election, Instance, Profile, Project

    n = rng.randint(30, 60)
    base = rng.randint(10**6, 10**7)
    projects = {str(k + 1): Project(str(k + 1), base + rng.choice([-1, 0, 0, 1])) for k in range(6)}
    ids = list(projects)
    ballots = []
    for v in range(n):
        chosen = rng.sample(ids, rng.randint(1, 3))
        ballots.append(Ballot(str(v), tuple(chosen)))
    ballots += [Ballot(f"d{i}", b.projects) for i, b in enumerate(ballots[: n // 3])]
    inst = Instance(meta={"budget": str(3 * base), "vote_type": "approval"}, projects=projects)
    return mes.prepare(Election(inst, Profile("approval", ballots)))


def test_a_chain_on_near_ties_decided_in_exact_arithmetic():
    rng = random.Random("chain-near-ties")
    exact_budgets = 0
    for _ in range(40):
        data = _crafted(rng)
        tb = TieBreak.parse(rng.choice([None, "order"]), data.ids)
        stretch = range(data.budget // data.n, data.budget // data.n + 25)
        got = chain.chain_runs(data, stretch, tb)
        for x in stretch:
            ref = mes.mes_run(data, x, tb)
            assert got[x] == (ref.winners, ref.total_cost)
            exact_budgets += ref.exact_rounds > 0
    assert exact_budgets > 50


@pytest.mark.parametrize("vote_type", ["approval", "cumulative"])
def test_with_the_same_projects_funded_a_lower_budget_never_has_a_lower_price(vote_type):
    """The fact behind the certificates, in exact arithmetic: two budgets x < x' whose runs funded the same
    projects in the same order before round t; in round t every project's exact price at x is at least its
    price at x', and a project unaffordable at x' is unaffordable at x."""
    rng = random.Random(f"monotone-{vote_type}")
    compared = 0
    for _ in range(60):
        data = mes.prepare(make_election(rng, vote_type, scale=rng.choice([1, 9])))
        tb = _tie_break(rng, data)
        x = data.budget // data.n + rng.randint(0, 20)
        x2 = x + rng.randint(1, 5)
        low, high = mes.mes_run(data, x, tb).winners, mes.mes_run(data, x2, tb).winners
        a, b = _ExactState(data, Fraction(x)), _ExactState(data, Fraction(x2))
        for t in range(min(len(low), len(high)) + 1):
            for c in range(data.P):
                if c in low[:t] or not len(data.supporters[c]):
                    continue
                pa, pb = a.price(c), b.price(c)
                if pb is None:
                    assert pa is None
                elif pa is not None:
                    assert pa >= pb
                    compared += 1
            if t == min(len(low), len(high)) or low[t] != high[t]:
                break
            a.apply(low[t])
            b.apply(high[t])
    assert compared > 500


def test_the_certificates_save_evaluations_and_the_chain_is_what_add1_uses(monkeypatch):
    """On an election with a few hundred voters: run below run, the chain evaluates far fewer projects than
    the same runs made alone; and Add1's plain stretches go through chain_runs (the search stays equal to
    the stepping definition: test_add1_jump.py)."""
    rng = random.Random("chain-savings")
    from tally.engine.model import Ballot, Election, Instance, Profile, Project

    projects = {str(k + 1): Project(str(k + 1), rng.randint(2_000, 40_000)) for k in range(30)}
    ids = list(projects)
    ballots = [Ballot(str(v), tuple(rng.sample(ids, rng.randint(1, 6)))) for v in range(1500)]
    inst = Instance(meta={"budget": "300000", "vote_type": "approval"}, projects=projects)
    data = mes.prepare(Election(inst, Profile("approval", ballots)))
    tb = TieBreak.parse(None, data.ids)
    counted = {"n": 0}
    original = fast._FastMes._eval

    def counting(self, *args):
        counted["n"] += 1
        return original(self, *args)

    monkeypatch.setattr(fast._FastMes, "_eval", counting)
    stretch = range(data.budget // data.n, data.budget // data.n + 30)
    got = chain.chain_runs(data, stretch, tb)
    in_chain, counted["n"] = counted["n"], 0
    alone = {x: mes.mes_run(data, x, tb) for x in stretch}
    assert got == {x: (r.winners, r.total_cost) for x, r in alone.items()}
    assert in_chain < counted["n"] * 0.7

    calls = []
    real = add1_module.chain_runs
    monkeypatch.setattr(add1_module, "chain_runs", lambda *a, **k: calls.append(a[1]) or real(*a, **k))
    res = mes.add1(data, tb)
    step = mes.add1(data, tb, method="step")
    assert calls and sum(len(r) for r in calls) > res.evaluations // 2
    assert (res.run.winners, res.per_voter, res.trace, res.steps) == (
        step.run.winners,
        step.per_voter,
        step.trace,
        step.steps,
    )
    kept = mes.mes_run(data, res.per_voter, tb)
    assert (res.run.exact_rounds, res.run.total_cost) == (kept.exact_rounds, kept.total_cost)


PROBE = """
import random, sys
from tally.engine import mes
from tally.engine.model import Ballot, Election, Instance, Profile, Project
from tally.engine.ties import TieBreak
rng = random.Random(7)
projects = {str(k): Project(str(k), rng.randint(100, 900)) for k in range(12)}
ballots = [Ballot(str(v), tuple(rng.sample(list(projects), 3))) for v in range(300)]
election = Election(Instance(meta={"budget": "3000", "vote_type": "approval"}, projects=projects),
                    Profile("approval", ballots))
data = mes.prepare(election)
res = mes.add1(data, TieBreak.parse(None, data.ids))
print(res.evaluations, "numpy.ma" in sys.modules)
"""


def test_an_approval_add1_count_does_not_import_numpy_ma():
    """np.unique imports numpy.ma (~5 ms of a count): the jump analysis finds distinct keys by a sort."""
    import subprocess
    import sys

    from .support import ROOT

    proc = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    evaluations, imported = proc.stdout.split()
    assert int(evaluations) > 0 and imported == "False"
