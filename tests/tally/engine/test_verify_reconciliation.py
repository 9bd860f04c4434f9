"""The verifier's reconciliation check (docs/verification.md, section 13), without Django: a manifest whose
channel counts disagree with the ballot files, or whose differences no resolution explains, FAILs even when
it is properly signed, here with the TEST council key of fixtures/keys (a forger who holds the key)."""

import copy
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from tally.engine import verify
from tests.tally.engine.test_verify import build, check

KEY_FILE = Path(__file__).resolve().parents[3] / "fixtures" / "keys" / "test-council-ed25519.key"


@pytest.fixture
def key():
    return serialization.load_pem_private_key(KEY_FILE.read_bytes(), password=None)


def _steps(report, name):
    return [s for s in report.steps if s.name == name]


def _forged(key, change):
    manifest, files, raw = build(key)
    forged = copy.deepcopy(manifest)
    change(forged["reconciliation"]["all"])
    report = check(key, forged, files, raw)
    # The forger re-signed with the council key: the signature passes, the count check must not.
    assert _steps(report, "council signature (Ed25519)")[0].status == "PASS"
    assert not report.ok
    return _steps(report, "pot all: reconciliation")[0]


def test_genuine_reconciliation_passes_and_says_what_it_checked(key):
    manifest, files, raw = build(key)
    report = check(key, manifest, files, raw)
    assert report.ok, report.text()
    step = _steps(report, "pot all: reconciliation")[0]
    assert step.status == "PASS" and step.detail == "online 25/25, paper 3/4 (1 resolved)"


def test_an_extra_ballot_claimed_in_a_channel_fails_naming_the_pot(key):
    def more_paper(rec):
        rec["ballots"]["paper"] += 1
        rec["participations"]["paper"] += 1  # keeps the channel balanced: only the file count catches it

    step = _forged(key, more_paper)
    assert step.status == "FAIL"
    assert "ballots per channel add up to 29, its ballot file holds 28" in step.detail


def test_ballots_moved_between_channels_fail_naming_the_channel(key):
    def move(rec):
        rec["ballots"]["online"] -= 1
        rec["ballots"]["paper"] += 1  # same total as the file; online now short of its voters

    step = _forged(key, move)
    assert "channel online: 24 ballots for 25 participations (-1), resolutions explain +0" in step.detail
    assert "channel paper: 4 ballots for 4 participations (+0), resolutions explain -1" in step.detail


def test_a_difference_without_its_resolution_fails(key):
    step = _forged(key, lambda rec: rec["resolutions"].clear())
    assert step.detail == "channel paper: 3 ballots for 4 participations (-1), resolutions explain +0"


def test_a_resolution_that_does_not_add_up_fails(key):
    def inconsistent(rec):
        rec["resolutions"][0]["difference"] = -2
        rec["participations"]["paper"] = 5

    step = _forged(key, inconsistent)
    assert "the resolution at booth 'Library' does not add up or gives no reason" in step.detail


def test_a_resolution_without_a_reason_fails(key):
    def no_reason(rec):
        rec["resolutions"][0]["reason"] = "  "

    assert "gives no reason" in _forged(key, no_reason).detail


@pytest.mark.parametrize(
    "garbage",
    [None, "x", {"ballots": "many"}, {"ballots": {}, "participations": {}, "resolutions": [{"channel": 1}]}],
)
def test_garbage_fails_with_a_reason_not_a_traceback(key, garbage):
    manifest, files, raw = build(key)
    manifest["reconciliation"]["all"] = garbage
    report = check(key, manifest, files, raw)
    step = _steps(report, "pot all: reconciliation")[0]
    assert step.status == "FAIL" and step.detail


def test_a_manifest_without_reconciliation_fails_and_an_unknown_pot_is_named(key):
    manifest, files, raw = build(key)
    del manifest["reconciliation"]
    assert _steps(check(key, manifest, files, raw), "reconciliation")[0].status == "FAIL"
    manifest, files, raw = build(key)
    manifest["reconciliation"]["ghost"] = manifest["reconciliation"]["all"]
    assert _steps(check(key, manifest, files, raw), "pot ghost: reconciliation")[0].status == "FAIL"


def test_without_files_the_manifest_count_is_used(key):
    manifest, _files, raw = build(key)
    manifest["reconciliation"]["all"]["ballots"]["online"] += 1
    manifest["reconciliation"]["all"]["participations"]["online"] += 1
    report = check(key, manifest, None, raw)
    step = _steps(report, "pot all: reconciliation")[0]
    assert step.status == "FAIL" and "the manifest's count holds 28" in step.detail
    assert isinstance(report, verify.Report)
