"""Issue 9 part 5 and issue 10: the records behind the ballots and the audit log, tampered with after
certification and publication. Each kind of change makes a NAMED check FAIL: the server-side
certification_check (from the tables) and, where the published files are affected, `python -m tally verify`.
The published audit.jsonl names no voter, and verifies from the published files alone."""

import datetime as dt
import json
import shutil

import pytest
from django.urls import reverse

from ballots.casting import services as ballot_services
from ballots.casting.validation import RawBallot
from ballots.models import Ballot, Channel, Participation, VoterRollEntry
from ballots.roll.identification import booth_identify
from pb.core.audit import audit_verify, entry_hash, entry_mac
from pb.core.models import AuditCheckpoint, AuditEvent, AuditHead
from tally.certification.services import certification_check
from tally.engine import auditlog, verify
from tally.engine import manifest as mf
from tally.engine.canonical import canonical_json
from tally.filestore import election_dir

from .conftest import KEYS
from .test_flow import verify_cli

PUB = verify.load_public_key((KEYS / "test-council-ed25519.pub").read_bytes())
BOOTH = "Town hall booth 7"


def _booth_voter(world):
    """A resident identified at a booth by an official, who then votes there: the audit log gets a
    voter.identify and a ballot.booth_cast entry, both about this voter."""
    voter = world.roll["north"].pop()
    i = len(world.roll["north"])  # the pool's i-th voter has the reference "north-<i>" (conftest.World)
    booth_identify(
        actor=world.o1,
        election=world.election,
        reference=f"north-{i}",
        date_of_birth=dt.date(1980, 1, 1),
        booth=BOOTH,
    )
    ballot_services.ballot_cast(
        actor=world.o1,
        election=world.election,
        pot=world.north,
        voter=voter,
        raw=RawBallot.of([(world.codes["north"][0], "")]),
        channel=Channel.BOOTH,
        booth=BOOTH,
    )
    return voter


@pytest.fixture
def published(world, tmp_path):
    voter = _booth_voter(world)
    cert = world.through_certify()
    world.publish()
    dst = tmp_path / "published"
    shutil.copytree(election_dir(world.election), dst)
    for p in dst.iterdir():
        p.chmod(0o644)
    return world, cert, dst, voter


def failed(report):
    return set(report.failed())


def _check(world):
    return certification_check(world.election)


RECORD_CHECKS = {
    "roll entries match the certified roll",
    "participations match the manifest",
    "receipt hashes match the manifest",
    "paper flags match the manifest",
}


def test_untampered_passes_everywhere(published):
    world, cert, folder, _voter = published
    report = _check(world)
    assert report.ok, report.text()
    passed = {s.name for s in report.steps if s.status == "PASS"}
    assert (
        RECORD_CHECKS
        | {
            "audit checkpoint at certification",
            "publication record",
            "audit log at publication",
            "audit log chain",
            "receipt digest",
            "audit log keys and signed checkpoints",
        }
        <= passed
    )
    proc = verify_cli(folder / cert.pdf_name, folder)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "PASS publication record" in proc.stdout and "PASS audit log at publication" in proc.stdout
    manifest = json.loads(cert.manifest)
    assert (
        manifest["participations"]["count"] == Participation.objects.filter(election=world.election).count()
    )
    assert manifest["paper_ballots"]["count"] == world.n_paper
    assert manifest["receipts"]["count"] == Ballot.objects.filter(election=world.election).count()
    assert manifest["audit_log"]["checkpoint"]["reason"] == "certification"


# --- the records behind the ballots ------------------------------------------------------------------------


def test_changed_participation_fails(published):
    world, *_ = published
    p = Participation.objects.filter(election=world.election, channel=Channel.ONLINE).first()
    Participation.objects.filter(pk=p.pk).update(
        pot=world.south if p.pot_id == world.north.pk else world.north
    )
    assert failed(_check(world)) == {"participations match the manifest"}


def test_participation_booth_changed_fails(published):
    world, *_ = published
    Participation.objects.filter(election=world.election, channel=Channel.BOOTH).update(booth="Elsewhere")
    assert failed(_check(world)) == {"participations match the manifest"}


def test_changed_roll_entry_fails(published):
    world, *_ = published
    VoterRollEntry.objects.filter(pk=world.roll["south"][0].pk).update(age_eligible=False)
    assert failed(_check(world)) == {"roll entries match the certified roll"}


def test_added_roll_entry_fails(published):
    world, *_ = published
    VoterRollEntry.objects.create(
        election=world.election, ref_hash="f" * 64, ref_dob_hash="x", district=world.north
    )
    assert failed(_check(world)) == {"roll entries match the certified roll"}


def test_changed_receipt_hash_fails(published):
    world, *_ = published
    b = Ballot.objects.filter(election=world.election).first()
    Ballot.objects.filter(pk=b.pk).update(receipt_hash="0" * 64)
    report = _check(world)
    # The voter's lookup would fail silently; the check does not: the receipts and the keyed paper digest
    # (which covers every ballot's receipt) no longer match.
    assert failed(report) == {"receipt hashes match the manifest", "paper flags match the manifest"}


def test_flipped_paper_flag_fails(published):
    world, *_ = published
    b = Ballot.objects.filter(election=world.election, is_paper=False).first()
    Ballot.objects.filter(pk=b.pk).update(is_paper=True)
    assert failed(_check(world)) == {"paper flags match the manifest"}


def test_paper_flags_swapped_keep_the_counts_but_fail(published):
    world, *_ = published
    paper = Ballot.objects.filter(election=world.election, is_paper=True, pot=world.north).first()
    online = Ballot.objects.filter(election=world.election, is_paper=False, pot=world.north).first()
    Ballot.objects.filter(pk=paper.pk).update(is_paper=False)
    Ballot.objects.filter(pk=online.pk).update(is_paper=True)
    report = _check(world)
    assert failed(report) == {"paper flags match the manifest"}
    assert "hmac" in next(s.detail for s in report.steps if s.name == "paper flags match the manifest")


def test_receipts_file_and_manifest_digest_agree_offline(published):
    _world, cert, folder, _voter = published
    (folder / mf.RECEIPTS_FILE).write_text("0" * 64 + "\n")
    proc = verify_cli(folder / cert.pdf_name, folder)
    assert proc.returncode == 1 and "FAIL receipt digest" in proc.stdout


# --- the audit log, on the server and as published ---------------------------------------------------------


def _rechain(from_seq, *, rekey=True):
    prev = AuditEvent.objects.filter(seq__lt=from_seq).order_by("-seq").values_list("hash", flat=True).first()
    prev = prev or auditlog.GENESIS
    for e in AuditEvent.objects.filter(seq__gte=from_seq).order_by("seq"):
        e.prev_hash, e.hash = prev, None
        e.hash = entry_hash(e)
        AuditEvent.objects.filter(pk=e.pk).update(
            prev_hash=e.prev_hash, hash=e.hash, mac=entry_mac(e.hash) if rekey else e.mac
        )
        prev = e.hash
    last = AuditEvent.objects.order_by("-seq").first()
    AuditHead.objects.filter(pk=1).update(seq=last.seq, hash=last.hash)


def _published_entries(folder):
    return mf.parse_jsonl((folder / mf.AUDIT_FILE).read_bytes())


def _write_entries(folder, entries):
    (folder / mf.AUDIT_FILE).write_bytes(mf.jsonl_bytes([canonical_json(e) for e in entries]))


def _rechain_published(entries, from_index):
    prev = entries[from_index - 1]["hash"] if from_index else auditlog.GENESIS
    for k, e in enumerate(entries[from_index:], start=from_index + 1):
        e["payload"]["seq"] = k
        e["payload"]["prev_hash"] = prev
        e["hash"] = auditlog.canonical_hash(e["payload"])
        prev = e["hash"]
    return entries


def test_rewritten_entry_rechained_on_the_server_fails_the_check(published):
    world, *_ = published
    AuditEvent.objects.filter(seq=4).update(actor_name="mallory")
    _rechain(4)  # even with PB_HMAC_KEY: the audit key's checkpoints catch it
    report = _check(world)
    assert "audit log keys and signed checkpoints" in failed(report)
    problems = audit_verify()[2]
    first = AuditCheckpoint.objects.filter(seq__gte=4).order_by("seq", "pk").first()
    assert any(
        f"chain no longer matches the signed checkpoint #{first.pk} at seq {first.seq}" in p.reason
        for p in problems
    )


def test_rewritten_entry_rechained_in_the_published_file_fails_offline(published):
    _world, cert, folder, _voter = published
    entries = _published_entries(folder)
    entries[3]["payload"]["actor_name"] = "mallory"
    _write_entries(folder, _rechain_published(entries, 3))
    proc = verify_cli(folder / cert.pdf_name, folder)
    assert proc.returncode == 1
    assert "FAIL audit log chain" in proc.stdout and "FAIL file hashes" in proc.stdout


def test_inserted_entry_in_the_published_file_fails_offline(published):
    _world, cert, folder, _voter = published
    entries = _published_entries(folder)
    forged = json.loads(json.dumps(entries[2]))
    forged["payload"]["action"] = "tally.forged"
    entries.insert(3, forged)
    _write_entries(folder, _rechain_published(entries, 3))
    proc = verify_cli(folder / cert.pdf_name, folder)
    assert proc.returncode == 1 and "FAIL audit log chain" in proc.stdout


def test_deleted_entry_in_the_published_file_fails_offline(published):
    _world, cert, folder, _voter = published
    entries = _published_entries(folder)
    del entries[5]
    _write_entries(folder, _rechain_published(entries, 5))
    proc = verify_cli(folder / cert.pdf_name, folder)
    assert proc.returncode == 1 and "FAIL audit log chain" in proc.stdout


def test_last_entries_cut_from_the_published_file_fail_offline(published):
    """The entries after certification (the certification, the phase changes, the publication) are covered
    by the council-signed publication record: cutting them fails."""
    _world, cert, folder, _voter = published
    entries = _published_entries(folder)
    seq = json.loads(cert.manifest)["audit_log"]["seq"]
    assert len(entries) > seq
    _write_entries(folder, entries[: len(entries) - 1])
    proc = verify_cli(folder / cert.pdf_name, folder)
    assert proc.returncode == 1
    assert "FAIL audit log chain" in proc.stdout and "FAIL audit log at publication" in proc.stdout


def test_publication_record_forged_or_swapped_fails_offline(published):
    _world, cert, folder, _voter = published
    record = json.loads((folder / auditlog.PUBLICATION_FILE).read_bytes())
    record["manifest_sha256"] = "0" * 64
    (folder / auditlog.PUBLICATION_FILE).write_bytes(canonical_json(record))
    proc = verify_cli(folder / cert.pdf_name, folder)
    assert proc.returncode == 1 and "FAIL publication record" in proc.stdout
    (folder / auditlog.PUBLICATION_FILE).write_bytes(b"\x00garbage")
    proc = verify_cli(folder / cert.pdf_name, folder)
    assert (
        proc.returncode == 1 and "FAIL publication record" in proc.stdout and "Traceback" not in proc.stderr
    )


def test_dropping_the_publication_record_leaves_only_the_certified_prefix(published):
    """Without publication.json the verifier checks what certification signed, and says the rest is not."""
    _world, cert, folder, _voter = published
    (folder / auditlog.PUBLICATION_FILE).unlink()
    proc = verify_cli(folder / cert.pdf_name, folder)
    assert proc.returncode == 1 and "FAIL audit log chain" in proc.stdout  # the extra entries are unsigned
    seq = json.loads(cert.manifest)["audit_log"]["seq"]
    _write_entries(folder, _published_entries(folder)[:seq])
    proc = verify_cli(folder / cert.pdf_name, folder)
    assert proc.returncode == 0, proc.stdout
    assert "SKIP publication record" in proc.stdout


def test_certification_checkpoint_forged_fails_offline(published):
    """A forged checkpoint in the manifest breaks the council's signature and its own."""
    _world, cert, folder, _voter = published
    manifest = json.loads(cert.manifest)
    manifest["audit_log"]["checkpoint"]["signature"] = "00" * 64
    report = verify.verify(
        manifest_json=canonical_json(manifest),
        signature=cert.signature.encode(),
        public_key=PUB,
        files=verify.read_dir(folder),
    )
    assert {"council signature (Ed25519)", "audit checkpoint at certification"} <= failed(report)


# --- the published audit log names no voter ----------------------------------------------------------------


def test_published_audit_log_names_no_voter_and_verifies_alone(published):
    _world, _cert, folder, voter = published
    entries = _published_entries(folder)
    voter_events = [e for e in entries if e["payload"]["action"] in ("voter.identify", "ballot.booth_cast")]
    assert {e["payload"]["action"] for e in voter_events} == {"voter.identify", "ballot.booth_cast"}
    participation = Participation.objects.get(voter=voter)
    for e in voter_events:
        p = e["payload"]
        assert p["object_id"] == "" and p["actor_id"] is None and p["actor_name"] == ""
        assert len(p["at"]) == 10  # the day only
        assert len(p["private"]) == 64
        text = json.dumps(p)
        assert BOOTH not in text and voter.ref_hash not in text
        assert str(voter.pk) not in json.dumps(p["data"])
    text = (folder / mf.AUDIT_FILE).read_text()
    assert BOOTH not in text and voter.ref_hash not in text
    assert f'"object_id":"{participation.pk}"' not in text and f'"object_id":"{voter.pk}"' not in text
    # The officials' log still has them, covered by the commitment.
    row = AuditEvent.objects.get(action="voter.identify")
    assert row.object_id == str(voter.pk) and row.private["fields"] == {"booth": BOOTH}
    # The chain verifies from the published file alone (no database, no key but what it carries).
    prev, n, problems, _hashes = auditlog.chain_problems(entries)
    assert problems == [] and n == len(entries)
    record = json.loads((folder / auditlog.PUBLICATION_FILE).read_bytes())
    assert (prev, n) == (record["audit_log"]["head"], record["audit_log"]["seq"])


def test_key_page_shows_the_latest_signed_head(published, client):
    html = client.get(reverse("tally:key")).content.decode()
    cp = AuditCheckpoint.objects.order_by("-seq", "-pk").first()
    assert cp.head in html and cp.signature in html and f"#{cp.seq}" in html


@pytest.mark.parametrize("garbage", [b"{not json\n", b"[1, 2]\n", b'{"hash": 5}\n', b"\xff\xfe\n"])
def test_garbage_audit_file_fails_with_a_reason_not_a_traceback(published, garbage):
    _world, cert, folder, _voter = published
    (folder / mf.AUDIT_FILE).write_bytes((folder / mf.AUDIT_FILE).read_bytes() + garbage)
    proc = verify_cli(folder / cert.pdf_name, folder)
    assert proc.returncode == 1, proc.stdout
    assert "FAIL audit log" in proc.stdout and "Traceback" not in proc.stderr
