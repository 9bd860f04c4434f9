"""`manage.py demo_load`: three elections in three phases, built through the services, loaded twice.

One test (the load takes several seconds: counting, sign-offs and the PDF of the published election) that
checks what a new user is told to try in the README: the codes vote in riverton-2026 over HTTP, riverton-2027
takes proposals, riverton-2025's result is public and verifies offline.
"""

import io
import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.test import TestCase
from django.urls import reverse

from ballots import demo
from ballots.models import (
    Ballot,
    DefinitionFreeze,
    LogBatch,
    Participation,
    PendingBallot,
    RollSnapshot,
    VoterRollEntry,
    VotingCode,
)
from pb.core.models import AuditEvent, BallotType, Election, Phase
from proposals.models import Proposal, ProposalStatus
from proposals.supports.models import Support
from tally.models import Certification, TallyRun
from tally.tracking.models import ProjectTracking, TrackingUpdate
from tests.ballots.cast_support import cast_ballots
from tests.tally.test_tamper_pdf import FORGERIES, _forge

ROOT = Path(__file__).resolve().parents[2]
TEST_KEY = ROOT / "fixtures" / "keys" / "test-council-ed25519.key"
TEST_PUB = ROOT / "fixtures" / "keys" / "test-council-ed25519.pub"

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def _counts() -> dict:
    return {
        "elections": Election.objects.count(),
        "proposals": Proposal.objects.count(),
        "roll": VoterRollEntry.objects.count(),
        "codes": VotingCode.objects.count(),
        "ballots": Ballot.objects.count() + PendingBallot.objects.count(),
        "participations": Participation.objects.count(),
        "runs": TallyRun.objects.count(),
        "demo.load": AuditEvent.objects.filter(action="demo.load").count(),
    }


def test_demo_load_four_elections_vote_and_verify(settings, tmp_path, client):
    settings.PB_VAR_DIR = tmp_path / "var"
    key_file = tmp_path / "keys" / "council.key"
    settings.PB_SIGNING_KEY_FILE = str(key_file)
    cert_file, cert_key_file = tmp_path / "keys" / "pades-cert.pem", tmp_path / "keys" / "pades-key.pem"
    settings.PB_SIGNING_CERT_FILE, settings.PB_SIGNING_CERT_KEY_FILE = str(cert_file), str(cert_key_file)
    out = io.StringIO()
    # Certified files are moved into place on commit: run the hooks the test transaction holds back.
    with TestCase.captureOnCommitCallbacks(execute=True):
        call_command("demo_load", stdout=out)
    text = out.getvalue()

    # --- accounts and key --------------------------------------------------------------------------------
    for username, password in [
        ("official", "official-demo-2026"),
        ("official2", "official2-demo-2026"),
        ("council", "council-demo-2026"),
        ("resident", "resident-demo-2026"),
    ]:
        assert authenticate(username=username, password=password) is not None
        assert f"account {username} / {password}" in text
    assert key_file.read_bytes() == TEST_KEY.read_bytes()  # no env var needed: the TEST key is copied
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert "TEST ONLY" in text
    # ... and the TEST ONLY certificate that PAdES-signs the published result.
    assert cert_file.read_bytes() == (ROOT / "fixtures" / "keys" / "test-pades-cert.pem").read_bytes()
    assert stat.S_IMODE(os.stat(cert_key_file).st_mode) == 0o600

    # --- riverton-2026: voting open, with the README's codes ---------------------------------------------
    current = Election.objects.get(slug="riverton-2026")
    assert current.phase == Phase.VOTING_OPEN
    assert DefinitionFreeze.objects.filter(election=current).exists()
    assert RollSnapshot.objects.get(election=current).entries == demo.VOTERS
    assert {p.ballot_type for p in current.pots.all()} == set(BallotType.values)
    proposals = Proposal.objects.filter(election=current)
    assert proposals.count() >= 45 and not proposals.filter(status=ProposalStatus.SUBMITTED).exists()
    assert proposals.filter(status=ProposalStatus.FEASIBLE).count() > proposals.count() / 2
    assert proposals.filter(status=ProposalStatus.MERGED).get().merged_into.status == ProposalStatus.FEASIBLE
    assert set(proposals.values_list("language", flat=True)) >= {"en", "vi", "zh-hans"}
    # The maps draw every district at first run, with no tile server; search ignores diacritics.
    assert all(p.shape and p.shape["features"] for p in current.pots.all())
    assert client.get(f"/elections/{current.slug}/districts.geojson").json()["features"]
    vi = proposals.filter(language="vi").first()
    assert vi.search_text and vi.search_text.isascii()
    codes = [demo.demo_code(i) for i in range(1, demo.CODES + 1)]
    assert codes[0] == "R5GH-G887-H8S8" and all(c in text for c in codes)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert all(c in readme for c in codes[:3]) and "DEMO_CODES_PLACEHOLDER" not in readme
    for ref, dob in [*demo.ROLL_MATCH, demo.UNDERAGE]:
        assert ref in text and dob.isoformat() in text and ref in readme

    # --- riverton-2027: proposals open, a resident can submit ---------------------------------------------
    ideas = Election.objects.get(slug="riverton-2027")
    assert ideas.phase == Phase.PROPOSALS_OPEN
    assert Proposal.objects.filter(election=ideas, status=ProposalStatus.SUBMITTED).count() >= 6
    assert Proposal.objects.filter(election=ideas, status=ProposalStatus.FEASIBLE).count() >= 1

    # --- riverton-youth-2027: supports phase, with supports given and the rules set ----------------------
    youth = Election.objects.get(slug="riverton-youth-2027")
    assert youth.phase == Phase.SUPPORTS and youth.supports_enabled and youth.supports_top_n == 2
    assert Support.objects.filter(election=youth).count() >= 10
    assert Support.objects.filter(election=youth, user__username="resident").count() == 1
    page = client.get(reverse("proposals:list", args=[youth.slug])).content.decode()
    assert "4 supports" in page

    # --- riverton-2025: published --------------------------------------------------------------------------
    past = Election.objects.get(slug="riverton-2025")
    assert past.phase == Phase.PUBLISHED and past.rule == "equalshares/add1"
    # After the vote the map and the list offer the funded projects only (tally's FUNDED_HOOKS).
    from proposals.selectors import funded_codes

    funded = funded_codes(past)
    assert funded and funded < set(Proposal.objects.filter(election=past).values_list("code", flat=True))
    page = client.get(f"/proposals/{past.slug}/", {"funded": "on"}).content.decode()
    listed = set(re.findall(r"/proposals/riverton-2025/(P\d+)/", page))
    assert listed and listed <= funded
    assert 'id="funded-map-link"' in client.get(f"/results/{past.slug}/").content.decode()
    assert VoterRollEntry.objects.filter(election=past).count() == demo.PAST_VOTERS
    online = Ballot.objects.filter(election=past, is_paper=False).count()
    assert 200 <= online <= 400 and Ballot.objects.filter(election=past, is_paper=True).count() == 12
    # The published log: one pot per batch, none under K but the single batch of a pot flagged under K.
    k = json.loads(Certification.objects.get(election=past).manifest)["secrecy"]
    for batch in LogBatch.objects.filter(election=past):
        pots = set(
            Ballot.objects.filter(election=past, sealed_batch=batch.seq).values_list("pot__slug", flat=True)
        )
        assert len(pots) == 1, batch.seq
        assert len(batch.ballot_hashes) >= k["anonymity_k"] or pots <= set(k["pots_under_k"]), batch.seq
    assert not PendingBallot.objects.filter(election=past).exists()
    cert = Certification.objects.get(election=past)
    assert TallyRun.objects.filter(election=past, official=False, rule="greedy").exists()  # a "what if"
    # What happened to the funded projects since (tally.tracking): every one tracked, at different stages.
    tracked = ProjectTracking.objects.filter(election=past)
    funded = {code for pot in cert.run.summary.values() for code in pot["selected"]}
    assert set(tracked.values_list("proposal__code", flat=True)) == funded
    assert tracked.values("status").distinct().count() >= 3 and TrackingUpdate.objects.exists()
    assert client.get(reverse("tracking:projects")).status_code == 200

    before = _counts()
    again = io.StringIO()
    call_command("demo_load", stdout=again)
    assert _counts() == before
    assert again.getvalue().count("already loaded") == 4
    call_command("audit_verify")

    # A README code identifies and votes over HTTP (anonymous visitor, no account).
    identify = reverse("ballots:identify", args=["riverton-2026"])
    r = client.post(identify, {"method": "code", "code-code": codes[0].lower().replace("-", " ")})
    assert r.status_code == 302, r.content.decode()[:500]
    citywide = current.pots.get(is_citywide=True)
    assert citywide.ballot_type == BallotType.APPROVAL
    projects = list(
        Proposal.objects.filter(pot=citywide, status=ProposalStatus.FEASIBLE).values_list("code", flat=True)
    )
    cast = reverse("ballots:ballot_cast", args=["riverton-2026", citywide.slug])
    r = client.post(cast, {"project": projects[:2]})
    html = r.content.decode()
    assert r.status_code == 200 and "has been cast" in html
    assert re.search(r'id="receipt-code">([0-9A-Z-]+)<', html)
    assert len(cast_ballots(election=current, pot=citywide)) == 1  # pending until a batch of K is due
    ref, dob = demo.UNDERAGE
    r = client.post(
        identify, {"method": "roll", "roll-reference": ref, "roll-date_of_birth": dob.isoformat()}
    )
    assert r.status_code == 403

    # The resident proposes in riverton-2027 (the create page is open to them).
    client.logout()
    assert client.login(username="resident", password="resident-demo-2026")
    assert client.get(reverse("proposals:create", args=["riverton-2027"])).status_code == 200
    client.logout()

    # riverton-2025's result, PDF, files and receipt lookup are public.
    results = reverse("tally:results", args=["riverton-2025"])
    r = client.get(results)
    assert r.status_code == 200 and "equalshares/add1" in r.content.decode()
    r = client.get(reverse("tally:file", args=["riverton-2025", cert.pdf_name]))
    assert r.status_code == 200 and r["Content-Type"] == "application/pdf"
    receipts = re.search(r"demo receipts to look up there: (\S+)\s+(\S+)", text).groups()
    assert receipts == tuple(
        re.search(r"demo receipts to look up there: (\S+)\s+(\S+)", again.getvalue()).groups()
    )
    r = client.get(results, {"receipt": receipts[0]})
    assert "Found: your ballot is in the published ballot log." in r.content.decode()

    # ... and verify offline with the command the README gives.
    folder = Path(settings.PB_VAR_DIR) / "elections" / "riverton-2025"
    pdf = str(folder / cert.pdf_name)
    proc = subprocess.run(
        [sys.executable, "-m", "tally", "verify", pdf, "--key", str(TEST_PUB), "--ballots", str(folder)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == 0 and "RESULT: PASS" in proc.stdout, proc.stdout + proc.stderr
    # The document itself is signed, by the certificate its signed manifest names.
    assert "PASS PDF signature (PAdES): CouncilSignature: covers the entire file" in proc.stdout
    named = json.loads(cert.manifest)["pdf_signing_certificate"]["sha256"]
    assert named in proc.stdout and named in text
    # A standard PDF tool sees the signature too.
    sig = subprocess.run(["pdfsig", pdf], capture_output=True, text=True, timeout=60)
    assert "Signature is Valid" in sig.stdout and "Total document signed" in sig.stdout, sig.stdout

    # The forgeries a visitor could make of the demo's published PDF each FAIL, with their reason.
    genuine = Path(pdf).read_bytes()
    for kind in (
        "stamp",
        "bytes appended after %%EOF",
        "content stream byte",
        "genuine attachments in another PDF",
    ):
        forged = tmp_path / "forged.pdf"
        forged.write_bytes(_forge(kind, genuine, tmp_path))
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "tally",
                "verify",
                str(forged),
                "--key",
                str(TEST_PUB),
                "--ballots",
                str(folder),
            ],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=120,
        )
        assert proc.returncode == 1 and "RESULT: FAIL" in proc.stdout, (kind, proc.stdout)
        assert FORGERIES[kind] in proc.stdout, (kind, proc.stdout)

    # The published audit log names no voter: identification and paper marks show the day only, no actor, no
    # object, no booth, no roll entry.
    entries = [json.loads(line) for line in (folder / "audit.jsonl").read_text().splitlines()]
    about_voters = [
        e["payload"] for e in entries if e["payload"]["action"] in ("voter.identify", "paper.voter_mark")
    ]
    assert about_voters, "the demo identifies voters and marks paper voters"
    booths = set(
        Participation.objects.filter(election=past).exclude(booth="").values_list("booth", flat=True)
    )
    refs = set(VoterRollEntry.objects.filter(election=past).values_list("ref_hash", flat=True))
    for p in about_voters:
        assert p["object_id"] == "" and p["actor_id"] is None and len(p["at"]) == 10, p
        blob = json.dumps(p)
        assert not any(b in blob for b in booths) and not any(r in blob for r in refs), p
