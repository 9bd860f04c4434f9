"""The copied Pabulib fixtures are byte-identical to the sources named in fixtures/pabulib/SOURCES.md."""

import hashlib
import re

from tests.tally.engine.support import FIXTURES_PB, fixture_files


def test_every_fixture_matches_its_recorded_sha256():
    table = (FIXTURES_PB / "SOURCES.md").read_text(encoding="utf-8")
    recorded = dict(re.findall(r"^\| (\S+\.pb) \|.*\| ([0-9a-f]{64}) \|$", table, flags=re.M))
    files = fixture_files()
    assert files
    assert {f.name for f in files} == set(recorded)
    for f in files:
        assert hashlib.sha256(f.read_bytes()).hexdigest() == recorded[f.name], f.name
