"""The whole verifiable-results flow at the service level: freeze, seal, close, tally, sign off, certify,
publish, then the independent verifier (a subprocess, no Django) on the published files."""

import json
import subprocess
import sys

from pb.core.models import Phase
from tally import services

from .conftest import KEYS, ROOT


def verify_cli(pdf, ballots=None, key=KEYS / "test-council-ed25519.pub"):
    cmd = [sys.executable, "-m", "tally", "verify", str(pdf), "--key", str(key)]
    if ballots:
        cmd += ["--ballots", str(ballots)]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=120)


def test_whole_election_verifies_offline(world):
    cert = world.through_certify()
    assert world.election.phase == Phase.CERTIFIED
    world.publish()
    assert world.election.phase == Phase.PUBLISHED
    folder = services.election_dir(world.election)
    proc = verify_cli(folder / cert.pdf_name, folder)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "RESULT: PASS" in proc.stdout
    for step in (
        "council signature",
        "PDF signature (PAdES)",
        "ballot log chain",
        "audit log chain",
        "pot north: re-run greedy",
        "pot south: re-run greedy",
        "ballot files match sealed log",
    ):
        assert f"PASS {step}" in proc.stdout, proc.stdout
    manifest = json.loads(cert.manifest)
    assert manifest["ballot_log"]["ballots"] == 45 + 6
    assert sum(p["ballots"] for p in manifest["pots"].values()) == 51
