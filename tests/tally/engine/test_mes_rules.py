"""The MES rules through the registry: official outcomes of real MES elections, the explanations, and
properties on random instances (never over budget, supporters never pay more than they have, Add1's stop
definition, same outcome after shuffling ballots)."""

from __future__ import annotations

import json
import random
from fractions import Fraction

import pytest

from tally.engine import canonical, mes, pabulib, registry
from tally.engine.model import Ballot, Election, Profile
from tally.engine.ties import TieBreak
from tests.tally.engine.support import FIXTURES_PB
from tests.tally.engine.test_mes_exact import make_election

MES_RULES = ["equalshares", "equalshares/add1", "equalshares/add1u", "equalshares/add1-comparison"]


def read(name: str) -> Election:
    return pabulib.read(FIXTURES_PB / name)


# ------------------------------------------------------------------------------- official outcomes


@pytest.mark.parametrize(
    "name",
    ["Netherlands_Assen_2024.pb", "Poland_Swiecie_2023.pb"],
)
def test_add1_reproduces_the_certified_outcome(name):
    election = read(name)
    assert election.instance.meta["rule"] == "equalshares/add1"
    out = registry.run("equalshares/add1", election)
    assert sorted(out.selected) == sorted(pabulib.official_selected(election))
    assert out.total_cost <= out.budget
    assert "over the budget" in out.details["add1"]["stop_reason"]


def test_wieliczka_add1_comparison_as_certified():
    election = read("Poland_Wieliczka_2023_Green_Budget.pb")
    assert election.instance.meta["rule"] == "equalshares/add1-comparison"
    out = registry.run("equalshares/add1-comparison", election)
    assert sorted(out.selected) == sorted(pabulib.official_selected(election))
    assert len(out.selected) == 30
    assert out.details["add1"]["per_voter_budget"] == "315"
    comp = out.details["comparison"]
    assert (comp["prefer_mes"], comp["prefer_greedy"], comp["outcome"]) == (1615, 873, "equalshares/add1")
    # The Add1 trace lists the budgets where the outcome changed: it starts at floor(budget / voters), rises,
    # and ends with the step that overspends (316); the search covered every unit from 151 to 316.
    trace = out.details["add1"]["trace"]
    assert trace[0][0] == 1_000_000 // 6586
    assert [t[0] for t in trace] == sorted({t[0] for t in trace})
    assert trace[-1][0] == 316 and trace[-1][1] > 1_000_000 and all(t[1] <= 1_000_000 for t in trace[:-1])
    assert out.details["add1"]["steps"] == 316 - 151 + 1


def test_wieliczka_stopping_at_the_first_exhaustive_outcome_differs():
    """equalshares.net's default (and pabutools') stop gives 31 projects: not what Wieliczka certified."""
    election = read("Poland_Wieliczka_2023_Green_Budget.pb")
    out = registry.run("equalshares/add1", election, options={"add1_stop": "exhaustive"})
    assert len(out.selected) == 31
    assert "exhaustive" in out.details["add1"]["stop_reason"]
    assert sorted(out.selected) != sorted(pabulib.official_selected(election))


def test_add1u_completes_with_greedy_and_stays_within_budget():
    election = read("Poland_Wieliczka_2023_Green_Budget.pb")
    base = registry.run("equalshares/add1", election)
    out = registry.run("equalshares/add1u", election)
    assert out.selected[: len(base.selected)] == base.selected
    added = out.details["completion"]["added"]
    assert out.selected[len(base.selected) :] == added
    assert out.total_cost <= out.budget
    left = out.budget - out.total_cost
    costs = {p: election.instance.cost(p) for p in election.instance.projects}
    assert all(costs[p] > left for p in costs if p not in out.selected and out.scores[p] > 0)


def test_cumulative_ballots_use_points_as_utilities():
    election = read("Poland_Czestochowa_2024_Mirow.pb")
    out = registry.run("equalshares", election)
    assert out.details["utilities"] == "points"
    assert out.rounds and all("price_per_point" in r for r in out.rounds)
    assert out.total_cost <= out.budget
    assert out.scores == {  # total points
        p: sum(
            v for b in election.profile.ballots for q, v in zip(b.projects, b.points, strict=True) if q == p
        )
        for p in election.instance.projects
    }


# --------------------------------------------------------------------------------------- explanations


def test_rounds_and_unfunded_explain_every_project_exactly():
    election = read("Poland_Swiecie_2023.pb")
    out = registry.run("equalshares/add1", election)
    per_voter = Fraction(out.details["add1"]["per_voter_budget"])
    assert [r["project"] for r in out.rounds] == out.selected
    for r in out.rounds:
        eff = Fraction(r["effective_vote_count"])
        pay = Fraction(r["max_payment"])
        assert eff == Fraction(r["cost"]) / pay  # effective vote count = cost / max payment
        assert abs(float(eff) - float(r["effective_decimal"])) < 1e-3
        assert Fraction(r["supporters_money_before"]) >= r["cost"]
        assert r["supporters"] == out.scores[r["project"]]
        assert pay <= per_voter
    unfunded = set(election.instance.projects) - set(out.selected)
    assert set(out.unfunded) == unfunded
    for pid in unfunded:
        assert "needed" in out.unfunded[pid] or "no votes" in out.unfunded[pid]
    json.dumps(out.to_json())
    canonical.canonical_json(out.to_json())  # no floats anywhere: hashable into the manifest


# ----------------------------------------------------------------------------------------- properties


def _check_payments(data: mes.MesData, per_voter: Fraction, winners: list[int]) -> None:
    """Replay with per-voter Fractions: each supporter pays min(money, rho * u) <= money; payments cover the
    cost exactly; nobody ends below zero."""
    money = [Fraction(per_voter)] * data.n
    for w in winners:
        sup = data.supporters[w].tolist()
        us = [data.uvals[k] for k in data.ucodes[w].tolist()]
        rho = mes._exact_price(data.costs[w], [(money[i], 1, u) for i, u in zip(sup, us, strict=True)])
        assert rho is not None, "a funded project must be affordable by its supporters"
        paid = Fraction(0)
        for i, u in zip(sup, us, strict=True):
            pay = min(money[i], rho * u)
            assert 0 <= pay <= money[i]
            money[i] -= pay
            paid += pay
        assert paid == data.costs[w]


@pytest.mark.parametrize("vote_type", ["approval", "cumulative"])
def test_random_instances_properties(vote_type):
    rng = random.Random(f"props-{vote_type}")
    for _ in range(30):
        election = make_election(rng, vote_type=vote_type, tie_heavy=rng.random() < 0.5)
        if not election.profile.ballots:
            continue
        data = mes.prepare(election)
        tb = TieBreak.parse(None, data.ids)
        for rule_id in MES_RULES:
            if rule_id == "equalshares/add1-comparison" and vote_type != "approval":
                continue
            out = registry.run(rule_id, election, tie_break=tb)
            assert out.total_cost <= out.budget, rule_id
            assert len(set(out.selected)) == len(out.selected)
            assert set(out.unfunded) == set(data.ids) - set(out.selected)
        plain = registry.run("equalshares", election, tie_break=tb)
        _check_payments(data, Fraction(data.budget, data.n), [data.index[p] for p in plain.selected])
        res = mes.add1(data, tb)
        _check_payments(data, Fraction(res.per_voter), res.run.winners)
        # Add1's definition, against the slow exact reference: b is the last step that fits and the step
        # after it overspends (unless nothing can ever overspend)
        ref, _ = mes.mes_reference(data, res.per_voter, tb)
        assert ref == res.run.winners
        nxt, _ = mes.mes_reference(data, res.per_voter + 1, tb)
        if "over the budget" in res.stop_reason:
            assert sum(data.costs[c] for c in nxt) > data.budget
        for b in range(data.budget // data.n, res.per_voter + 1):
            step, _ = mes.mes_reference(data, b, tb)
            assert sum(data.costs[c] for c in step) <= data.budget


def _shuffled(election: Election, rng: random.Random) -> Election:
    ballots = [
        Ballot(
            f"x{k}",
            tuple(rng.sample(b.projects, len(b.projects))) if b.points is None else b.projects,
            b.points,
        )
        for k, b in enumerate(election.profile.ballots)
    ]
    rng.shuffle(ballots)
    return Election(election.instance, Profile(election.profile.vote_type, ballots))


@pytest.mark.parametrize("rule_id", ["equalshares", "equalshares/add1", "equalshares/add1-comparison"])
def test_same_outcome_after_shuffling_ballots(rule_id):
    election = read("Poland_Swiecie_2023.pb")
    rng = random.Random(7)
    a = registry.run(rule_id, election).to_json()
    b = registry.run(rule_id, _shuffled(election, rng)).to_json()
    assert a == b


def test_shuffling_random_instances_with_ties():
    rng = random.Random("shuffle")
    for _ in range(40):
        election = make_election(rng, tie_heavy=True)
        if not election.profile.ballots:
            continue
        a = registry.run("equalshares/add1", election).to_json()
        b = registry.run("equalshares/add1", _shuffled(election, rng)).to_json()
        assert a == b


def test_comparison_step_switches_to_greedy_when_more_voters_prefer_it():
    rng = random.Random("comparison")
    switched = checked = 0
    for _ in range(300):
        if switched >= 3 and checked >= 40:
            break
        election = make_election(rng)
        if not election.profile.ballots:
            continue
        checked += 1
        out = registry.run("equalshares/add1-comparison", election)
        comp = out.details["comparison"]
        greedy = registry.run("greedy", election)
        mes_only = registry.run("equalshares/add1", election)
        if comp["prefer_greedy"] > comp["prefer_mes"]:
            switched += 1
            assert out.selected == greedy.selected and comp["outcome"] == "greedy"
        else:
            assert out.selected == mes_only.selected and comp["outcome"] == "equalshares/add1"
        # the counts are the definition: voters with strictly more approved funded projects
        sets = [set(b.projects) for b in election.profile.ballots]
        pm = sum(len(s & set(mes_only.selected)) > len(s & set(greedy.selected)) for s in sets)
        pg = sum(len(s & set(greedy.selected)) > len(s & set(mes_only.selected)) for s in sets)
        assert (comp["prefer_mes"], comp["prefer_greedy"]) == (pm, pg)
    assert switched > 0


def test_mes_never_funds_a_project_without_supporters():
    election = read("Netherlands_Assen_2024.pb")
    out = registry.run("equalshares/add1", election)
    assert all(out.scores[p] > 0 for p in out.selected)


# ------------------------------------------------------------------------------ vectorised building blocks


def _same_data(a: mes.MesData, b: mes.MesData) -> None:
    assert (a.ids, a.costs, a.n, a.budget, a.cost_utility) == (b.ids, b.costs, b.n, b.budget, b.cost_utility)
    assert a.uvals == b.uvals and a.scores == b.scores
    assert [s.tolist() for s in a.supporters] == [s.tolist() for s in b.supporters]
    assert [s.dtype for s in a.supporters] == [s.dtype for s in b.supporters]
    assert [u.tolist() for u in a.ucodes] == [u.tolist() for u in b.ucodes]
    assert a.ballot_rows() == b.ballot_rows()
    for w in range(a.P):
        assert a.overlap(w).tolist() == b.overlap(w).tolist()


@pytest.mark.parametrize("vote_type", ["approval", "cumulative"])
def test_vectorised_prepare_equals_the_ballot_loop(vote_type):
    """prepare (flattened ballots, stable sort by project) builds exactly what the plain loop builds: also
    with a project twice on an approval ballot (counted once) and zero points (not a supporter)."""
    rng = random.Random(f"prepare-{vote_type}")
    for _ in range(80):
        election = make_election(rng, vote_type=vote_type, tie_heavy=rng.random() < 0.5)
        ballots = list(election.profile.ballots)
        for k in range(0, len(ballots), 3):
            b = ballots[k]
            if b.projects and vote_type == "approval" and rng.random() < 0.5:
                ballots[k] = Ballot(b.voter_id, (*b.projects, b.projects[0]))
            elif b.projects and vote_type != "approval":
                pts = list(b.points)
                pts[rng.randrange(len(pts))] = 0
                ballots[k] = Ballot(b.voter_id, b.projects, tuple(pts))
        election = Election(election.instance, Profile(vote_type, ballots))
        _same_data(mes.prepare(election), mes._prepare_loop(election))


@pytest.mark.parametrize(
    "name",
    [
        "Poland_Czestochowa_2024_Mirow.pb",
        "Poland_Wieliczka_2023_Green_Budget.pb",
        "Netherlands_Assen_2024.pb",
    ],
)
def test_vectorised_prepare_on_real_files(name):
    election = read(name)
    _same_data(mes.prepare(election), mes._prepare_loop(election))


def test_prepare_still_rejects_what_the_loop_rejects():
    election = read("Poland_Czestochowa_2024_Mirow.pb")
    b = election.profile.ballots[0]
    bad = Election(election.instance, Profile("cumulative", [Ballot(b.voter_id, b.projects, b.points[:-1])]))
    with pytest.raises(ValueError):
        mes.prepare(bad)
    unknown = Election(election.instance, Profile("cumulative", [Ballot("x", ("no-such",), (1,))]))
    with pytest.raises(KeyError):
        mes.prepare(unknown)


@pytest.mark.parametrize("how", ["satisfaction", "cost"])
def test_comparison_counts_equal_the_per_voter_definition(how):
    rng = random.Random(f"cmp-{how}")
    for _ in range(60):
        election = make_election(rng)
        data = mes.prepare(election)
        a = rng.sample(range(data.P), rng.randint(0, data.P))
        g = rng.sample(range(data.P), rng.randint(0, data.P))
        weight = data.costs if how == "cost" else [1] * data.P
        pm = pg = 0
        for row in data.ballot_rows():
            x = sum(weight[c] for c in row if c in a)
            y = sum(weight[c] for c in row if c in g)
            pm += x > y
            pg += y > x
        assert mes.comparison_counts(data, a, g, how) == (pm, pg)
