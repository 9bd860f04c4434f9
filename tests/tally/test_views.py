"""The results pages over HTTP: officials close, count, sign off; the council certifies and publishes;
nothing about results is public before; receipts, files and the public verifier afterwards."""

import hashlib

from django.test import TestCase
from django.urls import reverse

from ballots.ballotbox.receipts import receipt_new
from ballots.ballotbox.sealing import SEAL_AFTER_CAST
from tally.counting import official_run, tally_run_execute
from tally.engine import manifest as mf
from tally.filestore import election_dir


def post(client, user, world, action, **data):
    client.force_login(user)
    return client.post(reverse("tally:action", args=[world.election.slug, action]), data)


def test_officials_close_count_signoff_and_council_certifies_over_http(world, client):
    code, digest = receipt_new()
    world.cast(world.north, projects=["N1"], receipt_hash=digest)
    slug = world.election.slug
    results_url = reverse("tally:results", args=[slug])

    assert post(client, world.o1, world, "close-request").status_code == 302
    r = post(client, world.o1, world, "close-confirm")
    assert r.status_code == 400 and b"second, different official" in r.content
    world.election.refresh_from_db()
    assert world.election.phase == "voting_open"
    assert post(client, world.o2, world, "close-confirm").status_code == 302
    world.election.refresh_from_db()
    assert world.election.phase == "voting_closed"

    r = post(client, world.o1, world, "count")
    assert r.status_code == 302
    world.election.refresh_from_db()
    if world.election.phase != "tallied":  # on_commit does not fire inside the test transaction
        run = official_run(world.election) or world.election.tally_runs.first()
        tally_run_execute(run_id=run.pk)
        world.election.refresh_from_db()
    assert world.election.phase == "tallied"

    # results stay hidden until published, from everyone
    for user in (None, world.o1, world.council):
        client.logout()
        if user:
            client.force_login(user)
        assert client.get(results_url).status_code == 404
        assert client.get(reverse("tally:file", args=[slug, mf.pb_file("north")])).status_code == 404
    log_page = client.get(reverse("tally:log", args=[slug]))
    assert b"log-head" in log_page.content and b"receipts.txt" not in log_page.content

    # certification is refused until two officials' re-counts match
    r = post(client, world.council, world, "certify")
    assert r.status_code == 409 and b"2 officials" in r.content
    assert post(client, world.o2, world, "signoff-recount").status_code == 302
    assert post(client, world.council, world, "certify").status_code == 409
    assert post(client, world.o3, world, "signoff-recount").status_code == 302
    with TestCase.captureOnCommitCallbacks(execute=True):  # the certified files are published on commit
        assert post(client, world.council, world, "certify").status_code == 302
    assert client.get(results_url).status_code == 404
    assert post(client, world.council, world, "publish").status_code == 302

    client.logout()
    page = client.get(results_url)
    assert page.status_code == 200
    assert b"N1" in page.content and b"Not funded" in page.content
    # No difference between ballots and voters: the page says so instead of an empty list under its heading.
    assert b'id="reconciliation-none"' in page.content
    assert b'id="reconciliation-resolutions"' not in page.content
    found = client.get(results_url, {"receipt": code.lower().replace("-", " ")})
    assert b'id="receipt-found"' in found.content
    missing = client.get(results_url, {"receipt": "AAAA-BBBB-CCCC-DDDD"})
    assert b'id="receipt-missing"' in missing.content
    # Something that cannot be a receipt code is told so (not "not found"), in full page and partial alike.
    for shape in ("hello", "AAAA-BBBB-CCCC", "AAAA-BBBB-CCCC-DDDU"):
        bad = client.get(results_url, {"receipt": shape}, headers={"HX-Request": "true"})
        assert b'id="receipt-invalid"' in bad.content and b"16 letters and digits" in bad.content
        assert b'id="receipt-missing"' not in bad.content
    partial = client.get(results_url, {"receipt": code}, headers={"HX-Request": "true"})
    assert b'id="receipt-found"' in partial.content and b"<html" not in partial.content

    cert = world.election.certification
    pdf = client.get(reverse("tally:file", args=[slug, cert.pdf_name]))
    body = b"".join(pdf.streaming_content)
    assert hashlib.sha256(body).hexdigest() == cert.pdf_sha256

    ok = client.post(reverse("tally:verify"), {"pdf": _upload("r.pdf", body)}, follow=True)
    assert ok.status_code == 200 and b'id="verify-result" class="ok"' in ok.content
    bad = bytearray(body)
    bad[len(bad) // 2] ^= 0xFF
    r = client.post(reverse("tally:verify"), {"pdf": _upload("r.pdf", bytes(bad))}, follow=True)
    assert r.status_code == 422 and b"FAIL" in r.content


def test_what_if_runs_are_marked_not_official(world, client):
    world.close()
    world.tally()
    post(client, world.o1, world, "whatif", rule="greedy-no-skip")
    run = world.election.tally_runs.filter(official=False).first()
    tally_run_execute(run_id=run.pk)
    page = client.get(reverse("tally:manage", args=[world.election.slug]))
    assert b"NOT OFFICIAL" in page.content
    # The count tables name the pots as officials know them, not by their slugs.
    html = page.content.decode()
    official_table = html.split('id="official-result"', 1)[1].split("</table>", 1)[0]
    whatif_table = html.split('class="whatif"', 1)[1].split("</table>", 1)[0]
    for table in (official_table, whatif_table):
        assert "<td>North</td>" in table and "<td>South</td>" in table and "<td>north</td>" not in table
    world.election.refresh_from_db()
    assert world.election.phase == "tallied"


def test_residents_cannot_open_the_officials_page(world, client):
    from tests.factories import UserFactory

    client.force_login(UserFactory())
    assert client.get(reverse("tally:manage", args=[world.election.slug])).status_code == 403
    assert post(client, UserFactory(), world, "close-request").status_code == 403


def test_council_key_page_shows_fingerprint(keys, client, db):
    page = client.get(reverse("tally:key"))
    from tally.certification import signing

    assert signing.council_public_key().fingerprint.encode() in page.content
    pem = client.get(reverse("tally:key"), {"format": "pem"})
    assert pem.content == (keys / "test-council-ed25519.pub").read_bytes()


def _upload(name, data):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data, content_type="application/pdf")


def test_manage_page_warns_when_the_database_drifts_from_the_freeze(world, client):
    from proposals.models import Proposal

    client.force_login(world.o1)
    url = reverse("tally:manage", args=[world.election.slug])
    assert b'id="definition-changed"' not in client.get(url).content
    Proposal.objects.filter(code="S1").update(title="Renamed after opening")
    assert b'id="definition-changed"' in client.get(url).content


def test_public_verify_page_recounts_uploaded_files(world, client):
    from django.core.files.uploadedfile import SimpleUploadedFile

    cert = world.through_certify()
    world.publish()
    folder = election_dir(world.election)
    files = [
        SimpleUploadedFile(p.name, p.read_bytes()) for p in sorted(folder.iterdir()) if p.suffix != ".pdf"
    ]
    pdf = _upload("r.pdf", (folder / cert.pdf_name).read_bytes())
    page = client.post(reverse("tally:verify"), {"pdf": pdf, "files": files}, follow=True)
    assert page.status_code == 200, page.content.decode()[-2000:]
    assert b"pot north: re-run greedy" in page.content and b"step-fail" not in page.content
    tampered = [f for f in files if f.name != "ballots-south.jsonl"]
    for f in tampered:
        f.seek(0)
    pdf.seek(0)
    page = client.post(reverse("tally:verify"), {"pdf": pdf, "files": tampered}, follow=True)
    assert page.status_code == 422 and b"ballot files missing" in page.content


def test_verify_page_refuses_oversized_uploads(db, keys, client, settings):
    settings.PB_VERIFY_MAX_BYTES = 10  # the form's own check (the middleware checks CONTENT_LENGTH first)
    r = client.post(reverse("tally:verify"), {"pdf": _upload("r.pdf", b"%PDF-1.7 more than ten bytes")})
    assert r.status_code == 400 and b"too large" in r.content


def test_log_head_is_public_during_voting_for_observers(world, client):
    data = client.get(reverse("tally:log_json", args=[world.election.slug])).json()
    from ballots.models import BallotLog

    log = BallotLog.objects.get(election=world.election)
    assert data == {
        "election": world.election.slug,
        "definition_sha256": world.election.definition_freeze.sha256,
        "head": log.head,
        "batches": log.seq,
        "ballots": log.ballots,
    }
    # 45 cast over two pots: neither reached K + max(K, SEAL_AFTER_CAST) pending, nothing sealed yet.
    assert data["ballots"] == 0 and data["batches"] == 0
    while not BallotLog.objects.get(election=world.election).seq:  # until one pot does: all but K sealed
        world.cast(world.north)
    data = client.get(reverse("tally:log_json", args=[world.election.slug])).json()
    assert data["batches"] == 1 and data["ballots"] == SEAL_AFTER_CAST
