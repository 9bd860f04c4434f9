"""The fast MES path (floats with error bounds, exact fallback) takes exactly the decisions of exact
rational arithmetic: same winners in the same order and the same tie-break records as `mes_reference`
(pure Fraction), on random small instances built to contain ties and near-ties."""

from __future__ import annotations

import math
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


# ------------------------------------------------------------------ the integer exact state and its pieces


def _fraction_replay(data: mes.MesData, per_voter: Fraction, winners: list[int]):
    """Per-voter Fractions, the plain definition: yields (winner, money before, rho, money after)."""
    money = [Fraction(per_voter)] * data.n
    for w in winners:
        sup = data.supporters[w].tolist()
        us = [data.uvals[k] for k in data.ucodes[w].tolist()]
        before = list(money)
        rho = mes._exact_price(data.costs[w], [(money[i], 1, u) for i, u in zip(sup, us, strict=True)])
        assert rho is not None
        for i, u in zip(sup, us, strict=True):
            money[i] = max(money[i] - rho * u, Fraction(0))
        yield w, before, rho, list(money)


@pytest.fixture(params=["numpy", "small"])
def price_path(request, monkeypatch):
    """Run a test through both paths of _int_price: the float guess checked exactly (forced even for a few
    groups) and the all-integer walk used for few groups."""
    monkeypatch.setattr(mes.exact, "_SMALL", 0 if request.param == "numpy" else 24)
    return request.param


@pytest.mark.parametrize("vote_type", ["approval", "cumulative"])
def test_integer_exact_state_equals_a_fraction_replay(vote_type, price_path):
    """_ExactState keeps integer numerators over one common denominator: every figure it gives (prices of
    all projects, the payment figures, every voter's money) equals per-voter Fraction arithmetic."""
    rng = random.Random(f"exact-state-{vote_type}")
    checked = 0
    for _ in range(60):
        election = make_election(rng, vote_type=vote_type, tie_heavy=rng.random() < 0.5)
        data = mes.prepare(election)
        if data.n == 0:
            continue
        tb = TieBreak.parse(None, data.ids)
        for per_voter in (
            Fraction(data.budget, data.n),
            Fraction(data.budget // data.n + rng.randint(0, 30)),
        ):
            winners, _ = mes.mes_reference(data, per_voter, tb)
            ex = mes._ExactState(data, per_voter)
            for w, before, rho, after in _fraction_replay(data, per_voter, winners):
                for c in range(data.P):  # the exact price of every project, funded or not
                    sup = data.supporters[c].tolist()
                    codes = data.ucodes[c].tolist()
                    groups = [(before[i], 1, data.uvals[k]) for i, k in zip(sup, codes, strict=True)]
                    want = mes._exact_price(data.costs[c], groups) if groups else None
                    assert ex.price(c) == want
                    assert ex.supporters_money(c) == sum((m for m, _, _ in groups), Fraction(0))
                sup = data.supporters[w].tolist()
                us = [data.uvals[k] for k in data.ucodes[w].tolist()]
                paid = ex.apply(w)
                assert paid.rho == rho
                assert paid.have == sum((before[i] for i in sup), Fraction(0))
                assert paid.paid_all == sum(1 for i, u in zip(sup, us, strict=True) if before[i] < rho * u)
                assert paid.supporters == len(sup) and paid.u_max == max(us)
                assert [ex.money[k] for k in ex.class_of.tolist()] == after
                assert ex.float_money().tolist() == [float(m) for m in after]  # correctly rounded
                checked += 1
    assert checked > 100


def test_integer_price_equals_exact_price_on_crafted_groups(price_path):
    """_int_price (float guess of who pays all, checked exactly) against _exact_price: equal ratios, ratios
    a hair apart (closer than floats can tell), huge denominators, unaffordable and exactly covered costs."""
    rng = random.Random("int-price")
    for trial in range(3000):
        L = rng.choice([1, 7, 2**64 + 13, 3**200, rng.randint(1, 10**40)])
        k = rng.randint(1, 8)
        us = [rng.choice([1, 1, 2, 3, 5]) for _ in range(k)]
        base = rng.randint(1, 50 * L)
        nums = []
        for j in range(k):
            choice = rng.random()
            if choice < 0.3 and nums:  # the same ratio as an earlier group
                i = rng.randrange(len(nums))
                nums.append(nums[i] * us[j] // us[i] if (nums[i] * us[j]) % us[i] == 0 else nums[i])
            elif choice < 0.5:  # a hair away from base
                nums.append(max(1, base + rng.choice([-1, 1])))
            else:
                nums.append(rng.randint(1, 100 * L))
        cnts = [rng.randint(1, 9) for _ in range(k)]
        total = sum(n * c for n, c in zip(nums, cnts, strict=True))
        cost = rng.choice([max(1, total // L), max(1, total // L - 1), total // L + 1, rng.randint(1, 3000)])
        if trial % 7 == 0 and total % L == 0:
            cost = total // L  # exactly covered: everybody pays all
        groups = [(Fraction(n, L), c, u) for n, c, u in zip(nums, cnts, us, strict=True)]
        want = mes._exact_price(cost, groups)
        floats = [n / L for n in nums]
        got = mes._int_price(cost, L, nums, cnts, us, floats)
        assert got == want, (cost, L, nums, cnts, us)
        if want is not None:
            assert mes._int_price(cost, L, nums, cnts, us, floats, affordable=True) == want


@pytest.mark.parametrize("L", [3**200, 2**70 + 1, 10**30 + 7, 2**80])
def test_integer_price_when_floats_cannot_tell(L, price_path):
    """Ratios one part in L apart look equal in floats: the guess is wrong (a group the floats put among
    those paying in full has less than the price) and the exact walk decides; money one part in L short of
    the cost is unaffordable, exactly the cost is affordable (everybody pays all)."""
    cost = 1000
    h = cost * L // 2  # two voters with h + 1 and cost * L - h - 1 (over L): together exactly the cost
    for nums in ([h + 1, cost * L - h - 1], [cost * L - h - 1, h + 1]):
        for u in (1, 3):
            for extra in ([], [5 * L]):
                ns = [x * u for x in nums] + extra
                cs, us = [1] * len(ns), [u] * len(nums) + [1] * len(extra)
                c = cost * u if not extra else cost
                groups = [(Fraction(x, L), 1, uu) for x, uu in zip(ns, us, strict=True)]
                want = mes._exact_price(c, groups)
                assert mes._int_price(c, L, ns, cs, us, [x / L for x in ns]) == want
    short = [cost * L - 1]  # one voter, a hair short
    assert mes._int_price(cost, L, short, [1], [1], [short[0] / L]) is None
    assert mes._exact_price(cost, [(Fraction(short[0], L), 1, 1)]) is None
    exact = [cost * L]
    assert mes._int_price(cost, L, exact, [1], [1], [float(cost)]) == cost


@pytest.mark.parametrize("vote_type", ["approval", "cumulative"])
def test_first_round_closed_form_equals_the_exact_price(vote_type):
    """Round 1 (everybody has the per-voter budget) is priced in closed form: the same affordable projects and
    the same criterion (correctly rounded) as _exact_price on the supporters."""
    rng = random.Random(f"first-round-{vote_type}")
    for _ in range(150):
        election = make_election(rng, vote_type=vote_type, tie_heavy=rng.random() < 0.5)
        data = mes.prepare(election)
        if data.n == 0:
            continue
        for per_voter in (Fraction(data.budget, data.n), Fraction(rng.randint(1, 40)), Fraction(7, 3)):
            fast = mes._FastMes(data, per_voter, TieBreak.parse(None, data.ids))
            want = {}
            for c in range(data.P):
                groups = [(per_voter, 1, data.uvals[k]) for k in data.ucodes[c].tolist()]
                rho = mes._exact_price(data.costs[c], groups) if groups else None
                if rho is not None:
                    want[c] = float(rho / data.costs[c] if data.cost_utility else rho)
            assert dict(fast._first_round()) == want


@pytest.mark.parametrize("vote_type", ["approval", "cumulative"])
def test_fast_path_with_ties_against_the_reference_at_many_budgets(vote_type):
    """Add1-like sweeps (consecutive per-voter budgets) on tie-heavy instances: winners and tie records equal
    the reference's at every step (the exact rounds replay the integer state from scratch each run)."""
    rng = random.Random(f"sweep-{vote_type}")
    for _ in range(25):
        election = make_election(rng, vote_type=vote_type, tie_heavy=True)
        data = mes.prepare(election)
        if data.n == 0:
            continue
        tb = TieBreak.parse(None, data.ids, seed=rng.choice([None, "s2"]))
        b0 = data.budget // data.n
        for b in range(b0, b0 + 12):
            fast = mes.mes_run(data, b, tb)
            ref, ref_ties = mes.mes_reference(data, b, tb)
            assert fast.winners == ref and _records(fast.ties) == _records(ref_ties)


def test_a_guide_changes_the_work_never_the_outcome():
    """Add1 passes the previous step's winners as a guide (evaluated first in their round): any guide, even
    a wrong or nonsensical one, leaves winners and tie records equal to the reference's."""
    rng = random.Random("guide")
    for _ in range(80):
        election = make_election(
            rng, vote_type=rng.choice(["approval", "cumulative"]), tie_heavy=rng.random() < 0.5
        )
        data = mes.prepare(election)
        if data.n == 0:
            continue
        tb = TieBreak.parse(None, data.ids)
        b = data.budget // data.n + rng.randint(0, 20)
        ref, ref_ties = mes.mes_reference(data, b, tb)
        prev, _ = mes.mes_reference(data, max(1, b - 1), tb)
        for guide in (prev, ref, ref[::-1], [rng.randrange(data.P) for _ in range(data.P)], []):
            fast = mes.mes_run(data, b, tb, guide=guide)
            assert fast.winners == ref and _records(fast.ties) == _records(ref_ties)


def test_float_evaluation_answers_are_certificates():
    """`_FastMes._eval` at every round of runs on tie-heavy and plain instances, against the exact price:
    'no' means unaffordable, 'worse' a price above the threshold, 'yes' an interval holding the price, and
    every lower bound is below it. Thresholds and hints sit on both sides of the exact price, a hair away
    (the tangent shortcut of approval ballots must never certify a point past the root). The float state
    goes through float payments (error bounds growing) as well as exact re-synchronisations."""
    rng = random.Random("eval-certificates")
    seen: dict[str, int] = {"yes": 0, "worse": 0, "no": 0}
    for _ in range(60):
        vote_type = rng.choice(["approval", "approval", "cumulative"])
        data = mes.prepare(make_election(rng, vote_type=vote_type, tie_heavy=rng.random() < 0.4))
        if data.n == 0:
            continue
        tb = TieBreak.parse(None, data.ids)
        per_voter = Fraction(data.budget // data.n + rng.randint(0, 30)) + rng.choice([0, Fraction(1, 3)])
        winners, _ = mes.mes_reference(data, per_voter, tb)  # not the fast run: it is under test
        fm = mes._FastMes(data, per_voter, tb)
        ex = mes._ExactState(data, per_voter)
        for w in winners:
            for c in range(data.P):
                if c in fm.winners or len(data.supporters[c]) == 0:
                    continue
                rho = ex.price(c)
                exact = None if rho is None else float(rho)
                probes = [(math.inf, 0.0)]
                if exact is not None:
                    for eps in (1e-13, 1e-9, 1e-4):
                        probes += [
                            (exact * (1 - eps), exact * (1 - eps)),
                            (exact * (1 + eps), exact * (1 + eps)),
                        ]
                for threshold, hint in probes:
                    st, lo, hi = fm._eval(c, threshold, hint)
                    seen[st] = seen.get(st, 0) + 1
                    if st == "no":
                        assert rho is None
                        continue
                    if rho is None:
                        assert st in ("worse", "maybe")
                        continue
                    assert Fraction(lo) <= rho, (st, lo, rho)
                    if st == "worse":
                        assert Fraction(lo) > Fraction(threshold) and rho > Fraction(threshold)
                    if st == "yes":
                        assert rho <= Fraction(hi), (hi, rho)
            st, lo, hi = fm._eval(w, math.inf, 0.0)
            if st == "yes" and rng.random() < 0.7:  # pay in floats: the error bounds grow
                fm._fund(w, None, lo, hi)
            else:  # pay exactly and copy the exact money into the floats
                fm._fund(w, ex.price(w), 0.0, 0.0)
            ex.apply(w)
            fm.winners.append(w)
    assert seen["yes"] > 200 and seen["worse"] > 200 and seen["no"] > 20, seen
