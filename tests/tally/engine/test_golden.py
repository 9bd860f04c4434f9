"""Golden test: `python -m tally run F --json` (the file's own rule) reproduces the official `selected`
projects of every real election that records one. Every official rule must be registered: a missing one
fails here rather than skipping."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tally.engine import pabulib, registry
from tests.tally.engine.support import fixture_files, run_cli, shared_files


def _records_outcome(path: Path) -> bool:
    """Whether the PROJECTS header has a `selected` column (a cheap scan: collection stays fast)."""
    with path.open(encoding="utf-8-sig") as f:
        for line in f:
            if line.strip() == "PROJECTS":
                return "selected" in next(f, "").strip().split(";")
    return False


def _cases(files: list[Path]) -> list:
    return [pytest.param(f, id=f.stem) for f in files if _records_outcome(f)]


def _all_files() -> list[Path]:
    files = {f.name: f for f in fixture_files()}
    files.update({f.name: f for f in shared_files()})  # the same files, or more, when ../shared is here
    return [files[name] for name in sorted(files)]


@pytest.mark.parametrize("path", _cases(_all_files()))
def test_official_outcome_is_reproduced(path):
    election = pabulib.read(path)
    rule_id = election.instance.meta["rule"]
    assert rule_id in registry.load_all(), f"official rule {rule_id} is not registered"
    proc = run_cli("run", str(path), "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["rule"] == rule_id
    assert set(result["selected"]) == set(pabulib.official_selected(election))
    assert len(result["selected"]) == len(set(result["selected"]))
    assert result["total_cost"] == sum(election.instance.cost(p) for p in result["selected"])
    assert result["total_cost"] <= result["budget"] == election.instance.budget
    assert result["engine"]["name"] == "pb-tally"
    assert result["tie_break"]["chain"] == ["cost", "score", "order"]
    assert set(result["unfunded"]) == set(election.instance.projects) - set(result["selected"])
    assert pabulib.official_selected(election) is not None


def test_golden_runs_on_a_fresh_clone():
    """The fixtures alone hold official outcomes for greedy on cumulative and ordinal ballots."""
    names = {p.values[0].name for p in _cases(fixture_files())}
    assert {"Poland_Czestochowa_2024_Mirow.pb", "Poland_Krakow_2022_Stare_Miasto.pb"} <= names
