"""Each kind of tampering makes verification FAIL and names what failed (issue 5, "Done when")."""

import json
import shutil
import subprocess

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ballots.ballotbox.sealing import log_problems
from ballots.models import Ballot
from pb.core.models import AuditEvent
from tally.certification.services import certification_check
from tally.engine import manifest as mf
from tally.engine import verify
from tally.engine.canonical import canonical_json
from tally.filestore import election_dir

from .conftest import KEYS
from .test_flow import verify_cli

PUB = verify.load_public_key((KEYS / "test-council-ed25519.pub").read_bytes())


@pytest.fixture
def certified(world, tmp_path):
    cert = world.through_certify()
    world.publish()
    src = election_dir(world.election)
    dst = tmp_path / "published"
    shutil.copytree(src, dst)
    for p in dst.iterdir():
        p.chmod(0o644)
    return world, cert, dst


def failed(report):
    return set(report.failed())


def files_of(folder):
    return verify.read_dir(folder)


def test_untampered_passes(certified):
    _world, cert, folder = certified
    report = verify.verify_pdf((folder / cert.pdf_name).read_bytes(), public_key=PUB, files=files_of(folder))
    assert report.ok, report.text()


def test_one_byte_of_the_pdf_changed_fails(certified):
    _world, cert, folder = certified
    pdf = bytearray((folder / cert.pdf_name).read_bytes())
    pdf[len(pdf) // 3] ^= 0x01
    (folder / cert.pdf_name).write_bytes(bytes(pdf))
    proc = verify_cli(folder / cert.pdf_name, folder)
    assert proc.returncode == 1, proc.stdout
    assert "FAIL PDF signature (PAdES)" in proc.stdout


def test_one_ballot_in_a_ballot_file_changed_fails(certified):
    world, cert, folder = certified
    path = folder / mf.jsonl_file("north")
    lines = path.read_bytes().split(b"\n")
    rec = json.loads(lines[0])
    other = next(c for c in world.codes["north"] if c not in rec["projects"])
    rec["projects"] = [other]
    lines[0] = canonical_json(rec)
    path.write_bytes(b"\n".join(lines))
    report = verify.verify_pdf((folder / cert.pdf_name).read_bytes(), public_key=PUB, files=files_of(folder))
    assert not report.ok
    assert "file hashes" in failed(report)
    assert "ballot files match sealed log" in failed(report)


def test_one_ballot_in_the_pb_file_changed_fails_the_recount_check(certified):
    _world, cert, folder = certified
    path = folder / mf.pb_file("south")
    text = path.read_text().rstrip("\n").split("\n")
    voter, vote = text[-1].split(";")[:2]
    text[-1] = f"{voter};S4" if vote != "S4" else f"{voter};S3"
    path.write_text("\n".join(text) + "\n")
    report = verify.verify_pdf((folder / cert.pdf_name).read_bytes(), public_key=PUB, files=files_of(folder))
    assert {"file hashes", "pot south: .pb matches definition and JSON lines"} <= failed(report)


def test_one_row_of_the_ballot_table_changed_fails(certified):
    world, _cert, _folder = certified
    assert certification_check(world.election).ok
    b = Ballot.objects.filter(election=world.election, pot=world.south).first()
    b.projects = ["S2"] if b.projects != ["S2"] else ["S1"]
    b.save(update_fields=["projects"])
    report = certification_check(world.election)
    assert not report.ok
    assert "ballot files match sealed log" in failed(report)


def test_ballot_row_changed_after_sealing_stops_the_count(world):
    world.close()
    b = Ballot.objects.filter(election=world.election, sealed_batch__isnull=False).first()
    b.projects = [] if b.projects else [world.codes[b.pot.slug][0]]
    b.save(update_fields=["projects"])
    assert any("no longer matches the sealed log" in p for p in log_problems(world.election))
    run = world.tally()
    assert run.status == "failed" and "sealed log" in run.error
    assert world.election.phase == "voting_closed"


def test_one_audit_entry_changed_fails(certified):
    world, cert, folder = certified
    assert certification_check(world.election).ok
    entry = AuditEvent.objects.get(seq=3)
    entry.data = {**entry.data, "forged": True}
    entry.save(update_fields=["data"])
    report = certification_check(world.election)
    assert failed(report) == {
        "file hashes",
        "audit log chain",
        "audit log at publication",  # the rebuilt audit.jsonl is not the one the publication signed
        "audit log keys and signed checkpoints",  # the server's own check: keyed MAC and checkpoints
    }
    # and the published audit file, edited the same way offline
    path = folder / mf.AUDIT_FILE
    lines = path.read_bytes().split(b"\n")
    e = json.loads(lines[2])
    e["payload"]["action"] = "something.else"
    lines[2] = json.dumps(e, sort_keys=True, separators=(",", ":")).encode()
    path.write_bytes(b"\n".join(lines))
    proc = verify_cli(folder / cert.pdf_name, folder)
    assert proc.returncode == 1
    assert "FAIL audit log chain" in proc.stdout and "altered" in proc.stdout


def test_pdf_signed_with_another_key_fails(world, settings, tmp_path):
    other = Ed25519PrivateKey.generate()
    key_file = tmp_path / "other.key"
    key_file.write_bytes(
        other.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    settings.PB_SIGNING_KEY_FILE = str(key_file)
    cert = world.through_certify()
    folder = election_dir(world.election)
    proc = verify_cli(folder / cert.pdf_name, folder)  # checked against the published council key
    assert proc.returncode == 1
    assert "FAIL council signature (Ed25519)" in proc.stdout
    assert "FAIL key fingerprint in manifest" in proc.stdout


def test_pdfsig_validates_the_pades_signature(certified):
    _world, cert, folder = certified
    if shutil.which("pdfsig") is None:
        pytest.skip("pdfsig (Debian poppler-utils) is not installed")
    proc = subprocess.run(["pdfsig", str(folder / cert.pdf_name)], capture_output=True, text=True, timeout=60)
    assert "Signature is Valid" in proc.stdout, proc.stdout + proc.stderr
    pdf = bytearray((folder / cert.pdf_name).read_bytes())
    pdf[len(pdf) // 3] ^= 0x01
    (folder / "flipped.pdf").write_bytes(bytes(pdf))
    proc = subprocess.run(["pdfsig", str(folder / "flipped.pdf")], capture_output=True, text=True, timeout=60)
    assert "Signature is Valid" not in proc.stdout


def test_manifest_without_files_checks_signature_only(certified):
    _world, cert, folder = certified
    report = verify.verify_pdf((folder / cert.pdf_name).read_bytes(), public_key=PUB, files=None)
    assert report.ok
    assert any(s.status == "SKIP" and s.name == "published files" for s in report.steps)
