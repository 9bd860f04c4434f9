"""The rules, metrics and scores read pabulib's column form (model.BallotTable) without building Ballot
objects; they must give exactly what they give from a plain list of the same Ballots."""

from __future__ import annotations

import random

import numpy as np
import pytest

from tally.engine import mes, metrics, pabulib, registry, scoring
from tally.engine.model import VOTE_TYPES, Ballot, BallotTable, Election, Instance, Profile, Project
from tests.tally.engine.support import FIXTURES_PB


def _random_ballots(rng: random.Random, vote_type: str, ids: list[str]) -> list[Ballot]:
    ballots = []
    for v in range(rng.randint(0, 40)):
        size = rng.randint(0, 1 if vote_type == "choose-1" else min(5, len(ids)))
        chosen = tuple(rng.sample(ids, size))
        points = None
        if vote_type in ("cumulative", "scoring"):
            points = tuple(rng.choice([0, 1, 2, 3, 5]) for _ in chosen)  # zero points: not a supporter
        elif vote_type == "ordinal" and rng.random() < 0.3:
            points = tuple(range(len(chosen), 0, -1))  # the optional points column, on some ballots only
        ballots.append(Ballot(str(v), chosen, points))
    return ballots


def _table(ids: list[str], ballots: list[Ballot]) -> BallotTable:
    index = {p: k for k, p in enumerate(ids)}
    lens = [len(b.projects) for b in ballots]
    ptr = np.concatenate(([0], np.cumsum(lens, dtype=np.int64))).astype(np.int64)
    flat = np.asarray([index[p] for b in ballots for p in b.projects], dtype=np.int16)
    has = np.asarray([b.points is not None for b in ballots], dtype=bool)
    points = None
    if has.any():
        points = np.asarray(
            [q for b in ballots for q in (b.points if b.points is not None else (0,) * len(b.projects))],
            dtype=np.int64,
        )
    return BallotTable(
        project_ids=list(ids),
        ptr=ptr,
        flat=flat,
        points=points,
        has_points=None if has.all() else has,
        voter_ints=np.asarray([int(b.voter_id) for b in ballots], dtype=np.int64),
    )


def _random_pair(rng: random.Random, vote_type: str) -> tuple[Election, Election, BallotTable]:
    n_proj = rng.randint(1, 9)
    projects = {}
    for k in range(n_proj):
        pid = str(10 * (n_proj - k))  # file order is not the sorted order of the ids
        projects[pid] = Project(pid, rng.choice([10, 20, 30, 60, rng.randint(1, 300)]))
    ids = list(projects)
    ballots = _random_ballots(rng, vote_type, ids)
    total = sum(p.cost for p in projects.values())
    meta = {"budget": str(rng.randint(max(1, total // 4), total)), "vote_type": vote_type}
    if vote_type == "ordinal" and rng.random() < 0.3:
        meta["max_length"] = str(rng.randint(1, 5))
    table = _table(ids, ballots)
    assert list(table) == ballots
    table._list = None  # forget the Ballot objects the check just built
    as_table = Election(Instance(meta=dict(meta), projects=projects), Profile(vote_type, table))
    as_list = Election(Instance(meta=dict(meta), projects=projects), Profile(vote_type, ballots))
    return as_table, as_list, table


def _outcome(rule_id: str, election: Election, options: dict) -> object:
    try:
        out = registry.run(rule_id, election, options=options)
    except ValueError as exc:
        return ("error", type(exc).__name__, str(exc))
    return out.to_json(), metrics.compute(election, out)


@pytest.mark.parametrize("vote_type", VOTE_TYPES)
def test_rules_give_the_same_outcome_from_a_table_and_from_ballots(vote_type):
    rng = random.Random(f"table-{vote_type}")
    rules = [r for r, info in registry.load_all().items() if vote_type in info.vote_types]
    assert rules
    for _ in range(60):
        as_table, as_list, table = _random_pair(rng, vote_type)
        options = {"points": "4,2,1"} if vote_type == "ordinal" and rng.random() < 0.3 else {}
        if "greedy-threshold" in rules:
            options["threshold"] = rng.randint(0, 6)
        assert scoring.supporters(as_table) == scoring.supporters(as_list)
        assert scoring.project_scores(as_table, options) == scoring.project_scores(as_list, options)
        for rule_id in rules:
            assert _outcome(rule_id, as_table, options) == _outcome(rule_id, as_list, options), rule_id
        if vote_type in mes.MES_VOTE_TYPES:
            a, b = mes.prepare(as_table), mes._prepare_loop(as_list)
            assert [s.tolist() for s in a.supporters] == [s.tolist() for s in b.supporters]
            assert [u.tolist() for u in a.ucodes] == [u.tolist() for u in b.ucodes]
            assert (a.uvals, a.scores, a.ballot_rows()) == (b.uvals, b.scores, b.ballot_rows())
        assert table._list is None, "a rule built the Ballot objects of a BallotTable"


def test_a_parsed_file_is_counted_without_ballot_objects():
    for name in ("Poland_Czestochowa_2024_Mirow.pb", "Netherlands_Assen_2024.pb"):
        election = pabulib.read(FIXTURES_PB / name)
        table = election.profile.ballots
        assert isinstance(table, BallotTable)
        vt = election.instance.vote_type
        for rule_id, info in registry.load_all().items():
            if vt in info.vote_types:
                metrics.compute(election, registry.run(rule_id, election, options={"threshold": 1}))
        assert table._list is None
