"""The verifier on its own (no Django, no database): a result assembled from the documented byte formats
(docs/verification.md) passes, and each broken invariant fails with its step named."""

import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tally.engine import ENGINE_NAME, ENGINE_VERSION, pabulib, registry, verify
from tally.engine import manifest as mf
from tally.engine.canonical import canonical_hash, canonical_json, sha256_hex
from tally.engine.ties import TieBreak

DEFINITION = {
    "format": "pb-definition/1",
    "election": {"slug": "demo", "name": "Demo", "city": "Town", "currency": "EUR"},
    "eligibility": {"min_age": None, "age_reference_date": None},
    "counting": {"rule": "greedy", "tie_break": "cost,score,order", "seed": "", "options": {}},
    "pots": [
        {
            "slug": "all",
            "name": "All",
            "budget": 100,
            "citywide": True,
            "ballot_type": "approval",
            "ballot_rules": {
                "min_selections": 0,
                "max_selections": None,
                "points_total": None,
                "points_max_per_project": None,
                "min_spend_percent": 0,
            },
            "projects": [
                {"id": "A", "name": "Park", "cost": 60, "category": ""},
                {"id": "B", "name": "Bench; big", "cost": 50, "category": ""},
                {"id": "C", "name": "Lamp", "cost": 30, "category": ""},
            ],
        }
    ],
    "roll": None,
}
VOTES = [["A"], ["A", "C"], ["B"], ["B", "C"], ["A", "B"], ["C"], ["A"]] * 4


def build(key):
    d_sha = canonical_hash(DEFINITION)
    pot = DEFINITION["pots"][0]
    lines = sorted(mf.ballot_line("all", v) for v in VOTES)
    files = {mf.jsonl_file("all"): mf.jsonl_bytes(lines)}
    files[mf.pb_file("all")] = pabulib.write(mf.pabulib_election(DEFINITION, pot, lines)).encode()
    receipts = [sha256_hex(f"r{i}".encode()) for i in range(len(lines))]
    b1 = mf.log_batch(
        election="demo",
        seq=1,
        prev=d_sha,
        ballots=[sha256_hex(x) for x in lines[:20]],
        receipts=receipts[:20],
    )
    b2 = mf.log_batch(
        election="demo",
        seq=2,
        prev=b1["hash"],
        ballots=[sha256_hex(x) for x in lines[20:]],
        receipts=receipts[20:],
    )
    files[mf.LOG_FILE] = mf.jsonl_bytes([canonical_json(b1), canonical_json(b2)])
    files[mf.RECEIPTS_FILE] = "".join(r + "\n" for r in sorted(receipts)).encode()
    payload = {
        "seq": 1,
        "at": "2026-06-01T10:00:00+00:00",
        "actor_id": 1,
        "actor_name": "o1",
        "action": "election.phase",
        "election_id": 1,
        "object_type": "",
        "object_id": "",
        "data": {},
        "prev_hash": "0" * 64,
    }
    files[mf.AUDIT_FILE] = mf.jsonl_bytes(
        [canonical_json({"hash": canonical_hash(payload), "payload": payload})]
    )
    election = pabulib.read(files[mf.pb_file("all")])
    tb = TieBreak.parse("cost,score,order", list(election.instance.projects))
    outcome = registry.run("greedy", election, tie_break=tb).to_json()
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    manifest = {
        "format": mf.MANIFEST_FORMAT,
        "election": {"slug": "demo", "name": "Demo", "city": "Town"},
        "definition": DEFINITION,
        "definition_sha256": d_sha,
        "roll_snapshot": None,
        "ballot_log": {"head": b2["hash"], "batches": 2, "ballots": len(lines)},
        "audit_log": {"head": canonical_hash(payload), "seq": 1},
        "files": {name: sha256_hex(data) for name, data in files.items()},
        "engine": {"name": ENGINE_NAME, "version": ENGINE_VERSION},
        "rule": DEFINITION["counting"],
        "pots": {"all": mf.pot_result(outcome, len(lines))},
        "reconciliation": {
            "all": {
                "name": "All",
                "participations": {"online": len(lines) - 3, "paper": 4},
                "ballots": {"online": len(lines) - 3, "paper": 3},
                "resolutions": [
                    {
                        "channel": "paper",
                        "booth": "Library",
                        "participations": 4,
                        "ballots": 3,
                        "difference": -1,
                        "reason": "One voter left without handing in the sheet.",
                    }
                ],
            }
        },
        "certified_at": "2026-06-20T10:00:00+00:00",
        "council_key_fingerprint": mf.key_fingerprint(raw),
    }
    return manifest, files, raw


def sign(key, manifest):
    body = mf.manifest_bytes(manifest)
    return body, key.sign(body).hex().encode()


@pytest.fixture
def key():
    return Ed25519PrivateKey.generate()


def check(key, manifest, files, raw=None):
    body, sig = sign(key, manifest)
    return verify.verify(manifest_json=body, signature=sig, public_key=raw, files=files)


def test_documented_formats_verify(key):
    manifest, files, raw = build(key)
    report = check(key, manifest, files, raw)
    assert report.ok, report.text()
    assert manifest["pots"]["all"]["selected"] == ["A", "C"]


def test_other_key_fails(key):
    manifest, files, _raw = build(key)
    other = (
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    report = check(key, manifest, files, other)
    assert {"council signature (Ed25519)", "key fingerprint in manifest"} <= set(report.failed())


def test_result_that_the_recount_contradicts_fails(key):
    manifest, files, raw = build(key)
    manifest["pots"]["all"]["selected"] = ["B", "C"]
    assert "pot all: re-run greedy" in check(key, manifest, files, raw).failed()


def test_broken_log_link_fails(key):
    manifest, files, raw = build(key)
    batches = mf.parse_jsonl(files[mf.LOG_FILE])
    batches[1]["prev"] = "f" * 64
    files[mf.LOG_FILE] = mf.jsonl_bytes([canonical_json(b) for b in batches])
    manifest["files"][mf.LOG_FILE] = sha256_hex(files[mf.LOG_FILE])
    assert check(key, manifest, files, raw).failed() == ["ballot log chain"]


def test_dropped_ballot_fails_even_with_rehashed_files(key):
    manifest, files, raw = build(key)
    lines = [x for x in files[mf.jsonl_file("all")].split(b"\n") if x][1:]
    files[mf.jsonl_file("all")] = mf.jsonl_bytes(lines)
    pot = DEFINITION["pots"][0]
    files[mf.pb_file("all")] = pabulib.write(mf.pabulib_election(DEFINITION, pot, lines)).encode()
    for name in (mf.jsonl_file("all"), mf.pb_file("all")):
        manifest["files"][name] = sha256_hex(files[name])
    failed = check(key, manifest, files, raw).failed()
    assert "pot all: ballot count" in failed and "ballot files match sealed log" in failed


def test_definition_hash_mismatch_fails(key):
    manifest, files, raw = build(key)
    manifest["definition"] = json.loads(json.dumps(DEFINITION))
    manifest["definition"]["pots"][0]["projects"][0]["cost"] = 59
    assert "definition hash" in check(key, manifest, files, raw).failed()


def test_other_engine_version_is_a_warning_not_a_failure(key):
    manifest, files, raw = build(key)
    manifest["engine"]["version"] = "0.0.1"
    manifest["pots"]["all"]["result_sha256"] = "0" * 64
    report = check(key, manifest, files, raw)
    assert report.ok
    assert any(s.status == "WARN" for s in report.steps)


def test_non_pdf_input_reports_instead_of_crashing():
    report = verify.verify_pdf(b"%PDF-1.7 not really", public_key=b"\0" * 32)
    assert not report.ok and report.failed() == ["PDF attachments"]


def test_manifest_missing_fields_fails_without_a_traceback(key):
    body = mf.manifest_bytes({"format": mf.MANIFEST_FORMAT})
    sig = key.sign(body).hex().encode()
    report = verify.verify(manifest_json=body, signature=sig, public_key=b"\0" * 32, files={})
    assert not report.ok and "manifest structure" in report.failed()


def test_roll_snapshot_must_match_the_frozen_roll(key):
    manifest, files, raw = build(key)
    manifest["roll_snapshot"] = {"entries": 3, "sha256": "a" * 64}
    assert "roll snapshot" in check(key, manifest, files, raw).failed()


@pytest.mark.parametrize("where", ["manifest", "publication"])
def test_json_nested_deeper_than_the_parser_fails_without_a_traceback(key, where):
    """A forger's manifest or publication record nested 100,000 deep: json raises RecursionError, which
    must be a named FAIL like any other unreadable JSON (on the verify page it was a 500)."""
    deep = b"[" * 100_000 + b"]" * 100_000
    if where == "manifest":
        report = verify.verify(manifest_json=deep, signature=b"00", public_key=b"\0" * 32)
        assert not report.ok and report.failed() == ["manifest"]
    else:
        report = verify.Report()
        assert verify._publication(report, {}, b"{}", b"\0" * 32, {"publication.json": deep}) is None
        assert report.failed() == ["publication record"]
