"""Sequential Phragmén (budget-limited, pabutools semantics): exact loads, stop at the first project that does
not fit, declared tie-breaks; checked against a naive per-voter Fraction version on random instances."""

from __future__ import annotations

import random
from fractions import Fraction

from tally.engine import canonical, pabulib, registry
from tally.engine.model import Ballot, Election, Instance, Profile, Project
from tally.engine.ties import TieBreak
from tests.tally.engine.support import FIXTURES_PB
from tests.tally.engine.test_mes_exact import make_election


def naive_phragmen(election: Election, tb: TieBreak) -> list[str]:
    inst = election.instance
    ballots = [set(b.projects) for b in election.profile.ballots]
    load = [Fraction(0)] * len(ballots)
    votes = {p: sum(p in s for s in ballots) for p in inst.projects}
    remaining = {p for p in inst.projects if votes[p] > 0 and inst.cost(p) <= inst.budget}
    chosen: list[str] = []
    spent = 0
    while remaining:
        new = {
            p: (sum(load[i] for i, s in enumerate(ballots) if p in s) + inst.cost(p)) / votes[p]
            for p in remaining
        }
        best = min(new.values())
        tied = [p for p in remaining if new[p] == best]
        if any(spent + inst.cost(p) > inst.budget for p in tied):
            break
        w, _ = tb.pick(sorted(tied), cost=inst.cost, score=votes.__getitem__)
        for i, s in enumerate(ballots):
            if w in s:
                load[i] = best
        chosen.append(w)
        spent += inst.cost(w)
        remaining.discard(w)
    return chosen


def test_matches_naive_implementation_on_random_instances():
    rng = random.Random("phragmen")
    for k in range(200):
        election = make_election(rng, tie_heavy=k % 2 == 0)
        tb = TieBreak.parse(None, list(election.instance.projects))
        out = registry.run("phragmen", election, tie_break=tb)
        assert out.selected == naive_phragmen(election, tb)
        assert out.total_cost <= out.budget
        assert set(out.unfunded) == set(election.instance.projects) - set(out.selected)


def test_stops_instead_of_skipping():
    # A (cost 90, 3 voters) reaches the least load first but does not fit after B; C would fit but is
    # never reached: sequential Phragmén stops.
    projects = {"A": Project("A", 90), "B": Project("B", 20), "C": Project("C", 50)}
    ballots = [Ballot("1", ("A", "B")), Ballot("2", ("A", "B")), Ballot("3", ("A",)), Ballot("4", ("C",))]
    inst = Instance(meta={"budget": "100", "vote_type": "approval"}, projects=projects)
    out = registry.run("phragmen", Election(inst, Profile("approval", ballots)))
    assert out.selected == ["B"]
    assert out.rounds[-1]["decision"] == "stopped" and out.rounds[-1]["project"] == "A"
    assert out.rounds[0]["new_load"] == "10"
    assert "stops" in out.details["stop_reason"]
    assert out.unfunded["C"].startswith("not reached")


def test_ties_are_broken_by_the_declared_chain_and_recorded():
    projects = {"1": Project("1", 10), "2": Project("2", 10), "3": Project("3", 5)}
    ballots = [Ballot("a", ("1",)), Ballot("b", ("2",)), Ballot("c", ("3",)), Ballot("d", ("3",))]
    inst = Instance(meta={"budget": "100", "vote_type": "approval"}, projects=projects)
    out = registry.run("phragmen", Election(inst, Profile("approval", ballots)))
    assert out.selected == ["3", "1", "2"]
    assert [(t.candidates, t.winner, t.reason) for t in out.tie_breaks] == [
        (["1", "2"], "1", "published order")
    ]


def test_real_file_exact_and_within_budget():
    election = pabulib.read(FIXTURES_PB / "Poland_Wieliczka_2023_Green_Budget.pb")
    out = registry.run("phragmen", election)
    assert out.total_cost <= out.budget
    loads = [Fraction(r["new_load"]) for r in out.rounds if r["decision"] == "funded"]
    assert loads == sorted(loads)  # the max load only grows
    canonical.canonical_json(out.to_json())
