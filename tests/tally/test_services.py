"""Freeze, ballot log, close, sign-off quorum, keys and reproducible PDF bytes."""

import io
import json
import os
import stat
import subprocess
import sys

import pytest
from django.core.management import call_command

from ballots.ballotbox.sealing import SEAL_AFTER_CAST, SEAL_BATCH_MIN, ballot_record_of, log_problems
from ballots.definition import (
    DefinitionFrozen,
    definition_assert_editable,
    definition_changed,
    definition_is_frozen,
)
from ballots.models import Ballot, DefinitionFreeze, LogBatch, PendingBallot
from pb.core.exceptions import DomainError, PermissionDenied, PhaseError
from pb.core.models import Phase
from pb.core.services import election_advance
from proposals.models import Proposal
from tally.certification import pdf
from tally.certification.services import election_certify
from tally.closing import close_confirm, close_request
from tally.counting import official_run
from tally.engine.canonical import canonical_json, sha256_hex
from tally.filestore import election_dir
from tally.signoff import AlreadySignedOff, signoff_recount, signoff_upload
from tests.factories import ElectionFactory, PotFactory, official

from .conftest import ROOT, World


def test_opening_freezes_the_definition(world):
    freeze = DefinitionFreeze.objects.get(election=world.election)
    definition = json.loads(freeze.canonical)
    assert canonical_json(definition) == freeze.canonical.encode()
    assert sha256_hex(freeze.canonical.encode()) == freeze.sha256
    north = next(p for p in definition["pots"] if p["slug"] == "north")
    assert [(p["id"], p["cost"]) for p in north["projects"]][:2] == [("N1", 40_000), ("N2", 30_000)]
    assert definition["counting"] == {
        "rule": "greedy",
        "tie_break": "cost,score,order",
        "seed": "",
        "options": {"unsupported": "never"},
    }
    assert definition_is_frozen(world.election)
    with pytest.raises(DefinitionFrozen):
        definition_assert_editable(world.election)
    assert not definition_changed(world.election)
    # A cost changed behind the services' back is detected, and never counted: the count uses the freeze.
    Proposal.objects.filter(code="N1").update(adjusted_cost=1)
    assert definition_changed(world.election)
    world.close()
    run = world.tally()
    assert run.results["north"]["budget"] == 100_000
    pb_text = (election_dir(world.election) / "ballots-north.pb").read_text()
    assert "N1;40000" in pb_text


def test_editable_before_opening(db):
    election = ElectionFactory()
    definition_assert_editable(election)
    assert not definition_is_frozen(election)


def test_voting_cannot_open_without_projects(db):
    o = official()
    election = ElectionFactory()
    PotFactory(election=election)
    for phase in (Phase.PROPOSALS_OPEN, Phase.REVIEW):
        election = election_advance(actor=o, election=election, to_phase=phase)
    with pytest.raises(PhaseError):
        election_advance(actor=o, election=election, to_phase=Phase.VOTING_OPEN)
    election.refresh_from_db()
    assert election.phase == Phase.REVIEW


def test_ballots_are_sealed_per_pot_in_batches_of_at_least_k(db, keys):
    """Per pot: nothing sealed until K + max(K, SEAL_AFTER_CAST) are pending, then all but K (so the last
    batch is never small); the close seals the rest of each pot, the K kept back included."""
    k, after = SEAL_BATCH_MIN, SEAL_AFTER_CAST
    world = World(n_online=0, n_paper=k + after)  # a roll big enough for the casts below
    world.n_paper = 0  # ... none of them on paper
    for _ in range(k + after - 1):
        world.cast(world.north)
    for _ in range(5):
        world.cast(world.south)
    assert not LogBatch.objects.filter(election=world.election).exists()
    assert not Ballot.objects.exists() and PendingBallot.objects.count() == k + after - 1 + 5
    world.cast(world.north)
    first = LogBatch.objects.get(election=world.election)
    assert len(first.ballot_hashes) == after and first.receipts == sorted(first.receipts)
    assert first.prev_hash == DefinitionFreeze.objects.get(election=world.election).sha256
    assert set(Ballot.objects.values_list("pot__slug", flat=True)) == {"north"}  # one pot per batch
    assert PendingBallot.objects.filter(pot=world.north).count() == k
    world.close()  # the close seals what remains: north's K kept back, and all of south (fewer than K)
    batches = {b.seq: b for b in LogBatch.objects.filter(election=world.election)}
    assert sorted(len(b.ballot_hashes) for b in batches.values()) == [5, k, after]
    assert batches[2].prev_hash == first.hash and batches[3].prev_hash == batches[2].hash
    assert not PendingBallot.objects.exists()
    assert log_problems(world.election) == []


def test_batch_order_is_not_insertion_order(db, keys):
    world = World(n_online=0, n_paper=SEAL_BATCH_MIN + SEAL_AFTER_CAST)  # a roll big enough
    world.n_paper = 0
    codes = world.codes["north"]
    # Ballots in a known insertion order; the sealed batch (a random choice of all but K, shuffled) must keep
    # neither their order nor which came first (the K kept back are not the last K cast).
    singles = [[c] for c in codes] + [[a, b] for a in codes for b in codes if a < b]
    n = SEAL_BATCH_MIN + SEAL_AFTER_CAST
    ballots = (singles * 10)[:n]
    receipts = [f"{i:064x}" for i in range(n)]
    for projects, receipt in zip(ballots, receipts, strict=True):
        world.cast(world.north, projects=projects, receipt_hash=receipt)
    batch = LogBatch.objects.get(election=world.election, seq=1)
    from tally.engine import manifest as mf

    inserted = [mf.ballot_hash(ballot_record_of(Ballot(projects=p), "north", "knapsack")) for p in ballots]
    assert batch.ballot_hashes != inserted[: len(batch.ballot_hashes)]
    assert set(batch.receipts) != set(receipts[: len(batch.receipts)])  # 1 in C(70, 20) to fail by chance


def test_closing_needs_two_different_officials(world):
    with pytest.raises(PhaseError):
        election_advance(actor=world.o1, election=world.election, to_phase=Phase.VOTING_CLOSED)
    close_request(actor=world.o1, election=world.election)
    with pytest.raises(DomainError):
        close_request(actor=world.o1, election=world.election)
    with pytest.raises(DomainError):
        close_confirm(actor=world.o1, election=world.election)
    with pytest.raises(PermissionDenied):
        close_confirm(actor=world.council, election=world.election)
    election = close_confirm(actor=world.o2, election=world.election)
    assert election.phase == Phase.VOTING_CLOSED


def test_certification_needs_the_quorum_and_no_mismatch(world, settings):
    world.close()
    world.tally()
    with pytest.raises(PhaseError):
        election_certify(actor=world.council, election=world.election)
    signoff_recount(actor=world.o2, election=world.election)
    with pytest.raises(AlreadySignedOff):  # the same official twice is refused (one per official)
        signoff_recount(actor=world.o2, election=world.election)
    with pytest.raises(PhaseError):
        election_certify(actor=world.council, election=world.election)
    run = official_run(world.election)
    wrong = {slug: {**s, "selected": s["selected"][:-1]} for slug, s in run.summary.items()}
    bad = signoff_upload(actor=world.o3, election=world.election, data=json.dumps(wrong).encode())
    assert not bad.matched
    with pytest.raises(PhaseError, match="mismatch"):
        election_certify(actor=world.council, election=world.election)
    settings.PB_SIGNOFF_QUORUM = 1
    with pytest.raises(PhaseError):  # a mismatch blocks whatever the quorum
        election_certify(actor=world.council, election=world.election)


def test_signoff_by_upload_of_offline_count(world, tmp_path):
    world.close()
    world.tally()
    folder = election_dir(world.election)
    outcomes = {}
    for slug in ("north", "south"):
        proc = subprocess.run(
            [sys.executable, "-m", "tally", "run", str(folder / f"ballots-{slug}.pb"), "--json"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=60,
            check=True,
        )
        outcomes[slug] = json.loads(proc.stdout)
    s = signoff_upload(actor=world.o2, election=world.election, data=json.dumps(outcomes).encode())
    assert s.matched
    with pytest.raises(DomainError):
        signoff_upload(actor=world.o3, election=world.election, data=b"not json")


def test_exported_files_are_read_only_and_content_ordered(world):
    world.close()
    world.tally()
    folder = election_dir(world.election)
    path = folder / "ballots-north.jsonl"
    assert not stat.S_IMODE(os.stat(path).st_mode) & 0o222
    lines = path.read_bytes().split(b"\n")[:-1]
    assert lines == sorted(lines)
    pb = (folder / "ballots-north.pb").read_text().split("VOTES\n", 1)[1].split("\n")[1:-1]
    assert [row.split(";")[0] for row in pb] == [str(i) for i in range(1, len(lines) + 1)]


def test_pdf_bytes_are_reproducible_without_pades(world):
    cert = world.through_certify()
    again = pdf.render_result_pdf(election=world.election, certification=cert, sign=False)
    stored = (election_dir(world.election) / cert.pdf_name).read_bytes()
    # The PAdES signature is an incremental update: the unsigned rendering is the signed file's first bytes.
    assert len(stored) > len(again) and stored[: len(again)] == again
    from pyhanko.pdf_utils.reader import PdfFileReader

    root = PdfFileReader(io.BytesIO(stored)).root
    xmp = root["/Metadata"].get_object().data
    assert b'pdfaid:part="3"' in xmp or b"<pdfaid:part>3</pdfaid:part>" in xmp, xmp[:400]
    assert "/OutputIntents" in root


def test_council_keygen_writes_a_0600_key_and_prints_the_fingerprint(settings, tmp_path, capsys):
    settings.PB_SIGNING_KEY_FILE = str(tmp_path / "keys" / "council.key")
    call_command("council_keygen")
    out = capsys.readouterr().out
    mode = stat.S_IMODE(os.stat(settings.PB_SIGNING_KEY_FILE).st_mode)
    assert mode == 0o600
    from tally.certification import signing

    assert signing.council_public_key().fingerprint in out
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("council_keygen")


def test_verifier_imports_no_django():
    code = "import sys, tally.engine.verify, tally.engine.manifest; print('django' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert proc.stdout.strip() == "False"


def test_signing_key_from_the_environment(settings, monkeypatch, tmp_path):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from tally.certification import signing

    settings.PB_SIGNING_KEY_FILE = str(tmp_path / "absent.key")
    assert signing.council_public_key() is None
    seed = bytes(range(32))
    monkeypatch.setenv("PB_SIGNING_KEY", seed.hex())
    expected = signing.public_info(Ed25519PrivateKey.from_private_bytes(seed).public_key())
    assert signing.council_public_key() == expected
    monkeypatch.setenv("PB_SIGNING_KEY", "not a key")
    with pytest.raises(signing.KeyMissing):
        signing.load_private_key()
