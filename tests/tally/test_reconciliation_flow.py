"""Reconciliation from the booth to the signed result (issue 9): a difference resolved by two officials is
published in the signed manifest, on the results page and in the PDF, and the verifier checks it; a manifest
whose channel counts were forged and re-signed with the (TEST) council key FAILs, naming pot and channel."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from cryptography.hazmat.primitives import serialization
from django.test import TestCase
from django.urls import reverse

from ballots.models import Channel, Participation
from ballots.reconciliation.services import reconciliation_resolve_confirm, reconciliation_resolve_propose
from pb.core.exceptions import PhaseError
from tally.certification.services import certification_check, election_certify
from tally.counting import tally_run_execute, tally_start
from tally.engine import manifest as mf
from tally.engine import verify
from tally.filestore import build_files, election_dir
from tally.models import Certification
from tally.publication import election_publish
from tally.signoff import signoff_recount
from tests.ballots.reconciliation_support import Box

from .conftest import KEYS

PUB = verify.load_public_key((KEYS / "test-council-ed25519.pub").read_bytes())
REASON = "One voter left the Library booth without handing in the sheet (booth log, page 3)."


def _count_and_signoff(box):
    run = tally_start(actor=box.anna, election=box.election)
    if run.status == "pending":
        tally_run_execute(run_id=run.pk)
    box.election.refresh_from_db()
    signoff_recount(actor=box.bart, election=box.election)
    signoff_recount(actor=box.carl, election=box.election)


def _certify(box):
    with TestCase.captureOnCommitCallbacks(execute=True):
        cert = election_certify(actor=box.council, election=box.election)
    box.election.refresh_from_db()
    return cert


@pytest.fixture
def resolved(db, keys):
    """4 online voters; 3 paper voters at the Library, 2 sheets came back; resolved by anna and bart."""
    box = Box()
    box.online(4)
    box.paper_voters(3)
    box.close()
    box.accept(box.batch("N1\nN2 N3"))
    res = reconciliation_resolve_propose(
        actor=box.anna, election=box.election, pot=box.north, channel="paper", booth="Library", reason=REASON
    )
    reconciliation_resolve_confirm(actor=box.bart, election=box.election, resolution=res)
    _count_and_signoff(box)
    return box


def test_resolution_is_signed_published_and_verified(resolved, client, tmp_path):
    box = resolved
    cert = _certify(box)
    manifest = json.loads(cert.manifest)
    assert manifest["reconciliation"]["north"] == {
        "name": "North",
        "participations": {"online": 4, "paper": 3},
        "ballots": {"online": 4, "paper": 2},
        "resolutions": [
            {
                "channel": "paper",
                "booth": "Library",
                "participations": 3,
                "ballots": 2,
                "difference": -1,
                "reason": REASON,
            }
        ],
    }
    assert manifest["reconciliation"]["south"]["resolutions"] == []
    report = certification_check(box.election)
    assert report.ok, report.text()
    steps = {s.name: s for s in report.steps}
    assert steps["pot north: reconciliation"].status == "PASS"
    assert steps["pot north: reconciliation"].detail == "online 4/4, paper 2/3 (1 resolved)"
    # The PDF carries the same manifest (attachment) and prints the reason on its pages.
    pdf = (election_dir(box.election) / cert.pdf_name).read_bytes()
    assert (
        json.loads(verify.pdf_attachments(pdf)[mf.MANIFEST_FILE])["reconciliation"]
        == manifest["reconciliation"]
    )
    if shutil.which("pdftotext"):  # poppler-utils (installed by CI): the reason is on the pages too
        pdf_file = tmp_path / "result.pdf"
        pdf_file.write_bytes(pdf)
        text = subprocess.run(
            ["pdftotext", str(pdf_file), "-"], capture_output=True, text=True, check=True
        ).stdout
        assert "Ballots and voters, per channel" in text
        assert "booth log, page 3" in " ".join(text.split())
    with TestCase.captureOnCommitCallbacks(execute=True):
        election_publish(actor=box.council, election=box.election)
    html = client.get(reverse("tally:results", args=[box.election.slug])).content.decode()
    assert 'id="reconciliation-resolutions"' in html and "paper at Library" in html
    assert 'id="reconciliation-none"' not in html
    assert "booth log, page 3" in html


def test_forged_channel_counts_fail_even_when_re_signed_with_the_council_key(resolved, tmp_path):
    box = resolved
    cert = _certify(box)
    files = build_files(box.election, audit_seq=json.loads(cert.manifest)["audit_log"]["seq"])
    key = serialization.load_pem_private_key((KEYS / "test-council-ed25519.key").read_bytes(), password=None)

    def forged(change):
        manifest = json.loads(cert.manifest)
        change(manifest["reconciliation"]["north"])
        body = mf.manifest_bytes(manifest)
        return verify.verify(
            manifest_json=body, signature=key.sign(body).hex().encode(), public_key=PUB, files=files
        )

    # Hide the missing sheet: claim 3 paper ballots. The signature passes; the count check does not.
    def hide(rec):
        rec["ballots"]["paper"] = 3
        rec["resolutions"] = []

    report = forged(hide)
    steps = {s.name: s for s in report.steps}
    assert steps["council signature (Ed25519)"].status == "PASS"
    assert steps["pot north: reconciliation"].status == "FAIL"
    assert (
        "ballots per channel add up to 7, its ballot file holds 6"
        in steps["pot north: reconciliation"].detail
    )
    # Drop the resolution but keep the true counts: the difference is unexplained.
    report = forged(lambda rec: rec["resolutions"].clear())
    detail = {s.name: s for s in report.steps}["pot north: reconciliation"].detail
    assert detail == "channel paper: 2 ballots for 3 participations (-1), resolutions explain +0"
    assert not report.ok and "pot north: reconciliation" in report.failed()


def test_a_participation_added_after_the_count_stops_certification(resolved):
    box = resolved
    Participation.objects.create(
        election=box.election,
        pot=box.north,
        voter=box.voter(),
        channel=Channel.ONLINE,
        day=Participation.objects.first().day,
    )
    with pytest.raises(PhaseError, match="North, online: 4 ballots for 5 voters recorded"):
        election_certify(actor=box.council, election=box.election)
    assert not Certification.objects.exists()
