"""Structured reasons (`tally.engine.reasons`) and the `unsupported` option (`tally.engine.unsupported`).

Every round and every unfunded project of every rule carries a documented reason code whose numbers agree
with the outcome (money left below the cost for "not enough money", ...), and its English sentence is the
rendering of that data. Projects nobody supported: never funded by default, funded from the money left
with `unsupported=fund_if_money_left`, by every rule."""

from __future__ import annotations

import json
import random
from fractions import Fraction

import pytest

from tally.engine import canonical, pabulib, reasons, registry, unsupported
from tally.engine.model import Ballot, Election, Instance, Profile, Project
from tally.engine.ties import TieBreak
from tests.tally.engine.support import FIXTURES_PB, SHARED_PB, run_cli
from tests.tally.engine.test_mes_exact import make_election

RULES = sorted(registry.load_all())
ELECTIONS = [
    "Poland_Wieliczka_2023_Green_Budget.pb",  # approval, the comparison step replaces nothing
    "Poland_Swiecie_2023.pb",  # approval, Add1
    "Poland_Czestochowa_2024_Mirow.pb",  # cumulative: points as utilities
    "Poland_Krakow_2022_Stare_Miasto.pb",  # ordinal: greedy rules only
    "Netherlands_Amsterdam_643.pb",
    "Netherlands_Assen_2024.pb",  # ../shared only (skipped on a fresh clone)
    "Poland_Lodz_2022.pb",
    "Poland_Warszawa_2026_Mokotow.pb",
]


def _election_path(name: str):
    path = FIXTURES_PB / name
    return path if path.exists() else SHARED_PB / name


def _options(rule_id: str) -> dict:
    return {"threshold": "30"} if rule_id == "greedy-threshold" else {}


def _frac(s: str) -> Fraction:
    return Fraction(s)


def _check_decimal(w: dict, name: str, places: int = 2) -> Fraction:
    x = _frac(w[name])
    assert w[f"{name}_decimal"] == reasons.decimal(x, places)
    assert abs(Fraction(w[f"{name}_decimal"]) - x) <= Fraction(1, 2 * 10**places)
    return x


def check_outcome(election: Election, out) -> None:
    """Every reason present, documented, rendered into the English strings, and consistent with the count."""
    inst = election.instance
    costs = {p: inst.cost(p) for p in inst.projects}
    assert set(out.unfunded_why) == set(out.unfunded) == set(inst.projects) - set(out.selected)
    funded_in_rounds = []
    for r in out.rounds:
        w = r["why"]
        assert w["code"] in reasons.CODES
        assert r["reason"] == reasons.render(w)
        if w["code"] in reasons.FUNDED_CODES:
            funded_in_rounds.append(r["project"])
            assert w["cost"] == costs[r["project"]]
        check_why(w, r["project"], costs, out)
    assert funded_in_rounds == out.selected or out.details.get("comparison", {}).get("outcome") == "greedy"
    for pid, w in out.unfunded_why.items():
        assert w["code"] in reasons.CODES and w["code"] not in reasons.FUNDED_CODES
        assert out.unfunded[pid] == reasons.render(w)
        check_why(w, pid, costs, out)
    assert sum(costs[p] for p in out.selected) == out.total_cost <= out.budget
    data = out.to_json()
    assert canonical.canonical_json(data)  # no floats: canonical JSON refuses them
    assert json.loads(json.dumps(data)) == data


def check_why(w: dict, pid: str, costs: dict, out) -> None:
    code = w["code"]
    cost = costs[pid]
    if code == "funded_fits":
        assert (
            w["cost"] <= w["remaining_before"] and w["remaining_after"] == w["remaining_before"] - w["cost"]
        )
    elif code == "did_not_fit":
        assert w["cost"] == cost > w["remaining"] >= 0
    elif code == "under_threshold":
        assert w["score"] < w["threshold"] and out.scores[pid] == w["score"]
    elif code == "no_support":
        assert out.scores.get(pid, 0) == 0 and w["supporters"] == 0 and w["option"] == "never"
    elif code == "not_reached":
        assert w["stopped_at"] != pid and w["stopped_at_cost"] > w["remaining"]
    elif code in ("funded_equal_shares", "short_at_start", "not_enough_money"):
        per_voter = _check_decimal(w, "per_voter_budget")
        assert w["cost"] == cost and w["supporters"] > 0
        if code == "funded_equal_shares":
            before = _check_decimal(w, "money_before")
            max_pay = _check_decimal(w, "max_payment")
            eff = _check_decimal(w, "effective", 3)
            assert before >= cost and 0 <= w["paid_all"] <= w["supporters"]
            if w["utilities"] == "cost":  # points: max_payment is the price times the highest points
                assert max_pay <= per_voter and eff == Fraction(cost) / max_pay
        elif code == "short_at_start":
            assert _check_decimal(w, "money_start") == per_voter * w["supporters"] < cost
        else:
            assert _check_decimal(w, "money_left") < cost <= per_voter * w["supporters"]
        if code != "funded_equal_shares" and w["shared_with"] is not None:
            assert w["shared_with"] in out.selected and 0 < w["shared_supporters"] <= w["supporters"]
            assert out.rounds[w["shared_with_round"] - 1]["project"] == w["shared_with"]
    elif code == "funded_completion":
        assert (
            w["cost"] <= w["remaining_before"] and w["remaining_after"] == w["remaining_before"] - w["cost"]
        )
    elif code in ("funded_least_load", "stopped_least_load"):
        _check_decimal(w, "new_load", 4)
        if code == "stopped_least_load":
            assert w["cost"] == cost > w["remaining"]
    elif code == "over_budget":
        assert w["cost"] == cost > w["budget"] == out.budget
    elif code == "replaced_by_greedy":
        assert w["prefer_greedy"] > w["prefer_mes"]
    elif code == "funded_unsupported":
        assert w["cost"] == cost <= w["remaining_before"]
    elif code == "unsupported_no_money":
        assert w["cost"] == cost and w["option"] == "fund_if_money_left"


def test_every_code_is_documented_and_rendered():
    for code in reasons.CODES:
        assert f"`{code}`" in reasons.__doc__
    with pytest.raises(ValueError, match="undocumented"):
        reasons.why("because")
    with pytest.raises(ValueError, match="undocumented"):
        reasons.render({"code": "because"})


@pytest.mark.parametrize("name", ELECTIONS)
@pytest.mark.parametrize("rule_id", RULES)
def test_every_round_and_unfunded_project_has_a_consistent_reason(rule_id, name):
    path = _election_path(name)
    if not path.exists():
        pytest.skip(f"{name} is absent")
    election = pabulib.read(path)
    if election.instance.vote_type not in registry.get(rule_id).vote_types:
        pytest.skip(f"{rule_id} does not count {election.instance.vote_type} ballots")
    out = registry.run(rule_id, election, options=_options(rule_id))
    check_outcome(election, out)
    assert out.details["unsupported"] == "never"
    again = registry.run(rule_id, election, options=_options(rule_id))
    assert canonical.canonical_json(again.to_json()) == canonical.canonical_json(out.to_json())


def test_mes_not_enough_money_names_the_largest_sharer():
    """On a real election, the MES reasons include both codes for unfunded supported projects."""
    election = pabulib.read(FIXTURES_PB / "Poland_Wieliczka_2023_Green_Budget.pb")
    out = registry.run("equalshares", election)
    codes = {w["code"] for w in out.unfunded_why.values()}
    assert "not_enough_money" in codes
    w = next(w for w in out.unfunded_why.values() if w["code"] == "not_enough_money")
    assert w["shared_with"] is not None
    assert f"also supported project {w['shared_with']}" in reasons.render(w)


def test_comparison_replaced_by_greedy_reasons():
    """Six voters approve A (cost 100, the whole budget), four approve B and C (25 each). Add1 funds B and C
    (A would overspend); greedy funds A, which six voters prefer against four: greedy replaces MES, and
    every unfunded project says so, with the counts."""
    projects = {"A": Project("A", 100), "B": Project("B", 25), "C": Project("C", 25)}
    ballots = [Ballot(str(i), ("A",)) for i in range(6)] + [Ballot(str(i), ("B", "C")) for i in range(6, 10)]
    inst = Instance(meta={"budget": "100", "vote_type": "approval"}, projects=projects)
    election = Election(inst, Profile("approval", ballots))
    out = registry.run("equalshares/add1-comparison", election)
    assert out.details["comparison"]["outcome"] == "greedy"
    assert out.selected == ["A"]
    assert out.unfunded_why == {
        p: {"code": "replaced_by_greedy", "measure": "satisfaction", "prefer_mes": 4, "prefer_greedy": 6}
        for p in ("B", "C")
    }
    check_outcome(election, out)


@pytest.mark.parametrize("rule_id", RULES)
def test_random_elections_have_consistent_reasons(rule_id):
    rng = random.Random(f"reasons {rule_id}")
    for k in range(25):
        election = make_election(rng, tie_heavy=k % 2 == 0)
        if election.instance.vote_type not in registry.get(rule_id).vote_types:
            continue
        check_outcome(election, registry.run(rule_id, election, options=_options(rule_id)))


# ----------------------------------------------------------------------------------- unsupported projects


def _with_unsupported(budget: int = 100) -> Election:
    """A and B are supported; U1 (cost 10) and U2 (cost 10) nobody supported; U3 costs too much."""
    projects = {
        "A": Project("A", 50),
        "B": Project("B", 30),
        "U1": Project("U1", 10),
        "U2": Project("U2", 10),
        "U3": Project("U3", 60),
    }
    ballots = [Ballot(str(i), ("A",)) for i in range(5)] + [Ballot(str(i), ("B",)) for i in range(5, 8)]
    inst = Instance(meta={"budget": str(budget), "vote_type": "approval"}, projects=projects)
    return Election(inst, Profile("approval", ballots))


@pytest.mark.parametrize("rule_id", [r for r in RULES if r != "greedy-threshold"])
def test_unsupported_never_by_default(rule_id):
    election = _with_unsupported()
    for options in ({}, {"unsupported": "never"}):
        out = registry.run(rule_id, election, options=options)
        assert set(out.selected) == {"A", "B"}
        for pid in ("U1", "U2", "U3"):
            assert out.unfunded_why[pid] == {"code": "no_support", "supporters": 0, "option": "never"}
        assert out.details["unsupported"] == "never"
        check_outcome(election, out)


@pytest.mark.parametrize("rule_id", [r for r in RULES if r != "greedy-threshold"])
def test_unsupported_fund_if_money_left(rule_id):
    """20 is left after A and B: U1 and U2 (cost 10 each, tied: the published order picks U1 first) are
    funded, U3 (60) does not fit."""
    election = _with_unsupported()
    out = registry.run(rule_id, election, options={"unsupported": "fund_if_money_left"})
    assert out.selected[:2] in (["A", "B"], ["B", "A"])
    assert out.selected[2:] == ["U1", "U2"]
    assert out.total_cost == 100
    assert out.details["unsupported"] == "fund_if_money_left"
    funded = [r for r in out.rounds if r["decision"] == "funded_unsupported"]
    assert [r["project"] for r in funded] == ["U1", "U2"]
    assert [r["why"]["remaining_before"] for r in funded] == [20, 10]
    assert out.unfunded_why["U3"]["code"] == "unsupported_no_money"
    assert out.unfunded_why["U3"]["remaining"] == 0
    ties = [t for t in out.tie_breaks if t.context == "unsupported projects"]
    assert ties and ties[0].winner == "U1" and ties[0].reason == "published order"
    check_outcome(election, out)


def test_unsupported_order_follows_the_declared_tie_break():
    """With a seeded order, U2 may come first; with 'cost' first, the cheaper one always does."""
    election = _with_unsupported(budget=90)  # 10 left: only one of U1, U2
    tb = TieBreak.parse("order", list(election.instance.projects), seed="draw")
    out = registry.run("greedy", election, tie_break=tb, options={"unsupported": "fund_if_money_left"})
    first = min(("U1", "U2"), key=tb.rank_of)
    assert out.selected[-1] == first
    assert out.unfunded_why[({"U1", "U2"} - {first}).pop()]["code"] == "unsupported_no_money"


@pytest.mark.parametrize("rule_id", ["greedy-no-skip", "phragmen"])
def test_rules_that_stop_never_reach_unsupported_projects(rule_id):
    """B (30) does not fit after A (80) in a budget of 100: counting stops, 20 is left, yet U1 and U2 are not
    funded: a rule that stops does not skip to them."""
    projects = {
        "A": Project("A", 80),
        "B": Project("B", 30),
        "U1": Project("U1", 10),
        "U2": Project("U2", 10),
    }
    ballots = [Ballot(str(i), ("A",)) for i in range(6)] + [Ballot(str(i), ("B",)) for i in range(6, 8)]
    inst = Instance(meta={"budget": "100", "vote_type": "approval"}, projects=projects)
    election = Election(inst, Profile("approval", ballots))
    out = registry.run(rule_id, election, options={"unsupported": "fund_if_money_left"})
    assert out.selected == ["A"]
    assert out.unfunded_why["U1"]["code"] == out.unfunded_why["U2"]["code"] == "unsupported_no_money"
    check_outcome(election, out)
    plain = registry.run(
        rule_id.replace("-no-skip", ""), election, options={"unsupported": "fund_if_money_left"}
    )
    if rule_id == "greedy-no-skip":  # plain greedy skips B and reaches them
        assert plain.selected == ["A", "U1", "U2"]


def test_greedy_threshold_never_funds_unsupported_under_a_positive_threshold():
    election = _with_unsupported()
    out = registry.run(
        "greedy-threshold", election, options={"threshold": "1", "unsupported": "fund_if_money_left"}
    )
    assert set(out.selected) == {"A", "B"}
    assert out.unfunded_why["U1"]["code"] == "under_threshold"
    zero = registry.run(
        "greedy-threshold", election, options={"threshold": "0", "unsupported": "fund_if_money_left"}
    )
    assert zero.selected == ["A", "B", "U1", "U2"]
    check_outcome(election, out)
    check_outcome(election, zero)


@pytest.mark.parametrize("value", ["always", "yes", "NEVER", "fund"])
@pytest.mark.parametrize("rule_id", RULES)
def test_unsupported_bad_value_is_refused(rule_id, value):
    with pytest.raises(ValueError, match="option unsupported must be one of never, fund_if_money_left"):
        registry.run(rule_id, _with_unsupported(), options={"threshold": "1", "unsupported": value})


def test_cli_unsupported_option_and_bad_value(tmp_path):
    path = tmp_path / "u.pb"
    pabulib.write_file(_with_unsupported(), path)
    ok = run_cli("run", str(path), "--rule", "greedy", "--option", "unsupported=fund_if_money_left", "--json")
    assert ok.returncode == 0, ok.stderr
    result = json.loads(ok.stdout)
    assert result["selected"] == ["A", "B", "U1", "U2"]
    assert result["unfunded_why"]["U3"]["code"] == "unsupported_no_money"
    bad = run_cli("run", str(path), "--rule", "greedy", "--option", "unsupported=maybe")
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    assert "option unsupported must be one of" in bad.stderr


def test_modes_are_the_documented_ones():
    assert unsupported.MODES == ("never", "fund_if_money_left")
    assert unsupported.mode({}) == "never"
    assert unsupported.mode({"unsupported": " fund_if_money_left "}) == "fund_if_money_left"
