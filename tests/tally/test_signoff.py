"""Independent sign-off (issue 9): one standing sign-off per official and count (service and database), a
mismatch withdrawn by its author only, with a reason, then a new count reaching the quorum; uploads compared
pot by pot with the difference shown; the officials' file downloads (hash-checked, staff only)."""

import json
import shutil
import subprocess
import sys

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from pb.core.exceptions import DomainError, PermissionDenied, PhaseError
from pb.core.models import AuditEvent
from tally.certification.services import election_certify
from tally.counting import official_run
from tally.engine import manifest as mf
from tally.engine.canonical import sha256_hex
from tally.filestore import election_dir
from tally.models import SignOff
from tally.signoff import (
    SIGNOFF_UPLOAD_MAX_BYTES,
    AlreadySignedOff,
    signoff_recount,
    signoff_status,
    signoff_upload,
    signoff_withdraw,
    summary_differences,
)
from tests.factories import UserFactory

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]


@pytest.fixture
def tallied(world):
    world.close()
    world.tally()
    return world


def _summary(world):
    run = official_run(world.election)
    return {
        slug: {"selected": s["selected"], "total_cost": s["total_cost"]} for slug, s in run.summary.items()
    }


def _wrong(world):
    """North: the last funded project dropped, an unfunded one funded instead; South as counted."""
    good = _summary(world)
    north = good["north"]["selected"]
    other = next(c for c in world.codes["north"] if c not in north)
    return {**good, "north": {"selected": [*north[:-1], other], "total_cost": 1}}, north[-1], other


def post(client, user, world, action, **data):
    client.force_login(user)
    return client.post(reverse("tally:action", args=[world.election.slug, action]), data)


# ------------------------------------------------------------------------------------------- one per official


def test_the_same_official_cannot_sign_off_twice(tallied):
    w = tallied
    signoff_recount(actor=w.o2, election=w.election)
    with pytest.raises(AlreadySignedOff, match="already signed off"):
        signoff_recount(actor=w.o2, election=w.election)
    with pytest.raises(AlreadySignedOff):
        signoff_upload(actor=w.o2, election=w.election, data=json.dumps(_summary(w)).encode())
    assert SignOff.objects.filter(official=w.o2).count() == 1
    status = signoff_status(w.election)
    assert status["matched"] == 1 and len(status["signoffs"]) == 1 and not status["reached"]


def test_the_database_refuses_a_second_standing_signoff_but_not_after_withdrawal(tallied):
    w = tallied
    first = signoff_recount(actor=w.o2, election=w.election)
    fields = {
        "election": w.election,
        "run": first.run,
        "official": w.o2,
        "method": SignOff.Method.SERVER,
        "matched": True,
        "created_at": timezone.now(),
    }
    with pytest.raises(IntegrityError), transaction.atomic():
        SignOff.objects.create(**fields)  # what a race past the service's check would write
    SignOff.objects.filter(pk=first.pk).update(withdrawn_at=timezone.now(), withdrawn_reason="x")
    SignOff.objects.create(**fields)  # a withdrawn one does not stand in the way
    assert SignOff.objects.filter(official=w.o2).count() == 2


def test_double_post_over_http_lists_the_official_once(tallied, client):
    w = tallied
    assert post(client, w.o2, w, "signoff-recount").status_code == 302
    r = post(client, w.o2, w, "signoff-recount")
    assert r.status_code == 409 and b"already signed off" in r.content
    html = client.get(reverse("tally:manage", args=[w.election.slug])).content.decode()
    assert (
        html.count('id="signoff-') - html.count('id="signoff-status"') - html.count('id="signoff-mine"') == 1
    )
    assert 'id="signoff-mine"' in html and 'id="signoff-recount"' not in html  # no button to do it again


# ---------------------------------------------------------------------------------------- mismatch, withdraw


def test_a_mismatch_is_withdrawn_by_its_author_with_a_reason_and_a_recount_reaches_the_quorum(tallied):
    w = tallied
    wrong, _dropped, _added = _wrong(w)
    bad = signoff_upload(actor=w.o3, election=w.election, data=json.dumps(wrong).encode())
    signoff_recount(actor=w.o2, election=w.election)
    assert not bad.matched
    with pytest.raises(PhaseError, match="mismatch"):
        election_certify(actor=w.council, election=w.election)

    # not by another official, nor the council, nor without a reason
    with pytest.raises(PermissionDenied, match="Only the official who gave"):
        signoff_withdraw(actor=w.o2, election=w.election, signoff_id=bad.pk, reason="not mine")
    with pytest.raises(PermissionDenied):
        signoff_withdraw(actor=w.council, election=w.election, signoff_id=bad.pk, reason="x")
    with pytest.raises(DomainError, match="Say why"):
        signoff_withdraw(actor=w.o3, election=w.election, signoff_id=bad.pk, reason="   ")
    with pytest.raises(DomainError, match="under"):
        signoff_withdraw(actor=w.o3, election=w.election, signoff_id=bad.pk, reason="x" * 1001)
    with pytest.raises(DomainError, match="no such sign-off"):
        signoff_withdraw(actor=w.o3, election=w.election, signoff_id=bad.pk + 999, reason="x")
    bad.refresh_from_db()
    assert bad.withdrawn_at is None

    signoff_withdraw(actor=w.o3, election=w.election, signoff_id=bad.pk, reason="I counted last week's files")
    bad.refresh_from_db()
    assert bad.withdrawn_at is not None and bad.withdrawn_reason == "I counted last week's files"
    event = AuditEvent.objects.filter(action="tally.signoff_withdrawn").get()
    assert event.actor_id == w.o3.pk and "last week" in json.dumps(event.data)
    with pytest.raises(DomainError, match="already withdrawn"):
        signoff_withdraw(actor=w.o3, election=w.election, signoff_id=bad.pk, reason="again")
    status = signoff_status(w.election)
    assert status["mismatched"] == [] and status["matched"] == 1 and not status["reached"]
    assert [s.pk for s in status["withdrawn"]] == [bad.pk]

    # the same official counts again, now matching: the quorum is reached and the council certifies
    again = signoff_upload(actor=w.o3, election=w.election, data=json.dumps(_summary(w)).encode())
    assert again.matched
    assert signoff_status(w.election)["reached"]
    cert = w.certify()
    signoffs = json.loads(cert.manifest)["signoffs"]
    assert sorted((s["method"], s["matched"]) for s in signoffs) == [("server", True), ("upload", True)]
    assert SignOff.objects.filter(official=w.o3).count() == 2  # the withdrawn row is kept
    if shutil.which("pdftotext"):  # the PDF says who re-counted how
        pdf = election_dir(w.election) / cert.pdf_name
        text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
        text = " ".join(text.split())
        assert "offline re-count of the published files, uploaded" in text
        assert "re-count of the exported files on the server" in text
    assert AuditEvent.objects.filter(action="tally.signoff", actor_id=w.o3.pk).count() == 2


def test_withdraw_over_http_by_its_author_only(tallied, client):
    w = tallied
    wrong, _d, _a = _wrong(w)
    bad = signoff_upload(actor=w.o3, election=w.election, data=json.dumps(wrong).encode())
    r = post(client, w.o2, w, "signoff-withdraw", signoff=bad.pk, reason="not mine")
    assert r.status_code == 403 and b"Only the official who gave" in r.content
    r = post(client, w.o3, w, "signoff-withdraw", signoff=bad.pk, reason="")
    assert r.status_code == 400 and b"withdraw" in r.content
    r = post(client, w.o3, w, "signoff-withdraw", signoff="garbage", reason="x")
    assert r.status_code == 400
    html = client.get(reverse("tally:manage", args=[w.election.slug])).content.decode()
    assert f'id="withdraw-{bad.pk}"' in html  # the author sees the withdraw form of their mismatch
    r = post(client, w.o3, w, "signoff-withdraw", signoff=bad.pk, reason="wrong files")
    assert r.status_code == 302
    html = client.get(reverse("tally:manage", args=[w.election.slug])).content.decode()
    assert 'id="signoffs-withdrawn"' in html and "wrong files" in html
    assert 'id="signoff-recount"' in html  # and may sign off again
    client.force_login(w.o2)
    html = client.get(reverse("tally:manage", args=[w.election.slug])).content.decode()
    assert 'id="withdraw-' not in html  # nobody else gets a withdraw form


# ------------------------------------------------------------------------------------------- uploads


def test_upload_is_compared_pot_by_pot_and_the_difference_is_shown(tallied, client):
    w = tallied
    wrong, dropped, added = _wrong(w)
    client.force_login(w.o2)
    upload = _file("signoff.json", json.dumps(wrong).encode())
    r = client.post(reverse("tally:action", args=[w.election.slug, "signoff-upload"]), {"result": upload})
    assert r.status_code == 302
    s = SignOff.objects.get(official=w.o2)
    assert not s.matched and s.method == SignOff.Method.UPLOAD
    assert "North" in s.detail and "South" not in s.detail  # South matched: only North is named
    assert dropped in s.detail and added in s.detail
    diffs = summary_differences(_summary(w), s.summary)
    assert [d["pot"] for d in diffs] == ["north"]
    assert diffs[0]["missing"] == [dropped] and diffs[0]["extra"] == [added] and diffs[0]["recount_cost"] == 1
    html = client.get(reverse("tally:manage", args=[w.election.slug])).content.decode()
    item = html.split(f'id="signoff-{s.pk}"', 1)[1].split("</li>\n", 1)[0]
    assert "DOES NOT MATCH" in item and "North:" in item and f"<strong>{dropped}</strong>" in item
    assert f"<strong>{added}</strong>" in item and "<strong>≠ 1</strong>" in item


def test_the_same_projects_in_another_order_is_a_mismatch(tallied):
    w = tallied
    good = _summary(w)
    pot = next(slug for slug, s in good.items() if len(s["selected"]) > 1)
    good[pot]["selected"] = list(reversed(good[pot]["selected"]))
    s = signoff_upload(actor=w.o2, election=w.election, data=json.dumps(good).encode())
    assert not s.matched and "another order" in s.detail


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", b"not JSON"),
        (b"\xff\xfe\x00garbage", b"not JSON"),
        (b"[" * 200_000, b"not JSON"),  # nested too deep for the parser: not a 500
        (b'{"a":' * 200_000, b"not JSON"),
        (b"[1, 2]", b"one result per pot"),
        (b'{"north": {"selected": [], "total_cost": 0}}', b"Missing: south"),
        (b'{"north": {}, "south": {}, "../etc": {}}', b"Not a pot of this election"),
        (
            b'{"north": {"selected": "N1", "total_cost": 0}, "south": {"selected": [], "total_cost": 0}}',
            b"selected",
        ),
        (
            b'{"north": {"selected": [], "total_cost": "0"}, "south": {"selected": [], "total_cost": 0}}',
            b"total",
        ),
        (
            b'{"north": {"selected": [], "total_cost": true}, "south": {"selected": [], "total_cost": 0}}',
            b"total",
        ),
        (
            b'{"north": {"selected": [{}], "total_cost": 1}, "south": {"selected": [], "total_cost": 0}}',
            b"selected",
        ),
        (b'{"north": [], "south": []}', b"selected"),
        (b'{"selected": [], "total_cost": 0}', b"one result per pot"),  # a single outcome, two pots
    ],
)
def test_garbage_uploads_get_a_clear_error_and_record_nothing(tallied, client, body, message):
    w = tallied
    client.force_login(w.o2)
    r = client.post(
        reverse("tally:action", args=[w.election.slug, "signoff-upload"]), {"result": _file("x.json", body)}
    )
    assert r.status_code == 400 and message in r.content, r.content[-3000:]
    assert not SignOff.objects.exists()


def test_an_oversized_upload_is_refused_before_parsing(tallied, client):
    w = tallied
    client.force_login(w.o2)
    body = b'{"north": "' + b"x" * SIGNOFF_UPLOAD_MAX_BYTES + b'"}'
    r = client.post(
        reverse("tally:action", args=[w.election.slug, "signoff-upload"]), {"result": _file("x.json", body)}
    )
    assert r.status_code == 400 and b"too large" in r.content
    assert not SignOff.objects.exists()


def test_offline_commands_on_the_page_produce_a_matching_upload(tallied, client, tmp_path):
    """The page's per-pot commands and its join command, run as printed, give what the upload expects."""
    w = tallied
    client.force_login(w.o2)
    html = client.get(reverse("tally:manage", args=[w.election.slug])).content.decode()
    import html as htmllib

    commands = htmllib.unescape(html.split('<pre id="offline-commands">', 1)[1].split("</pre>", 1)[0])
    bundle = htmllib.unescape(html.split('<pre id="offline-bundle">', 1)[1].split("</pre>", 1)[0])
    assert commands.splitlines() == [
        "python -m tally run ballots-north.pb --json > north.json",
        "python -m tally run ballots-south.pb --json > south.json",
    ]
    for slug in ("north", "south"):
        r = client.get(reverse("tally:staff_file", args=[w.election.slug, mf.pb_file(slug)]))
        (tmp_path / mf.pb_file(slug)).write_bytes(r.content)
    python = sys.executable
    for line in [*commands.splitlines(), bundle]:
        assert line.startswith("python ")
        # the page's own commands, through a shell, as an official would paste them
        subprocess.run(  # noqa: S602
            python + line.removeprefix("python"),
            shell=True,
            cwd=tmp_path,
            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
            check=True,
            timeout=120,
        )
    data = (tmp_path / "signoff.json").read_bytes()
    # the one-step command writes the same upload
    one_step = htmllib.unescape(html.split('<pre id="offline-one-step">', 1)[1].split("</pre>", 1)[0])
    assert one_step == "python -m tally signoff-bundle ballots-north.pb ballots-south.pb -o signoff.json"
    (tmp_path / "signoff.json").unlink()
    subprocess.run(
        [sys.executable, *one_step.split()[1:]],
        cwd=tmp_path,
        env={"PYTHONPATH": str(ROOT)},
        check=True,
        timeout=120,
    )
    assert json.loads((tmp_path / "signoff.json").read_bytes()) == json.loads(data)
    r = client.post(
        reverse("tally:action", args=[w.election.slug, "signoff-upload"]), {"result": _file("s.json", data)}
    )
    assert r.status_code == 302
    s = SignOff.objects.get(official=w.o2)
    assert s.matched and s.method == SignOff.Method.UPLOAD


# ------------------------------------------------------------------------------------------- file downloads


def test_officials_and_council_download_exported_files_others_do_not(tallied, client):
    w = tallied
    name = mf.pb_file("north")
    url = reverse("tally:staff_file", args=[w.election.slug, name])
    on_disk = (election_dir(w.election) / name).read_bytes()
    for user in (w.o1, w.council):
        client.force_login(user)
        r = client.get(url)
        assert r.status_code == 200 and r.content == on_disk
        assert r["X-Content-SHA256"] == sha256_hex(on_disk)
        assert r["Content-Disposition"].startswith("attachment")
    client.logout()
    assert client.get(url).status_code == 302  # to the sign-in page
    client.force_login(UserFactory())  # a resident
    r = client.get(url)
    assert r.status_code == 403 and on_disk not in r.content
    client.force_login(w.o1)
    assert client.get(reverse("tally:staff_file", args=[w.election.slug, "nope.pb"])).status_code == 404
    assert (
        client.get(reverse("tally:staff_file", args=[w.election.slug, "..%2Fsettings.py"])).status_code == 404
    )
    # the manage page lists each file with its size, hash and link
    html = client.get(reverse("tally:manage", args=[w.election.slug])).content.decode()
    table = html.split('id="export-files"', 1)[1].split("</table>", 1)[0]
    for f in w.election.export_files.all():
        assert f'data-file="{f.name}"' in table and f.sha256 in table and f">{f.size}<" in table


def test_a_tampered_file_is_not_served(tallied, client):
    w = tallied
    name = mf.pb_file("south")
    path = election_dir(w.election) / name
    path.chmod(0o644)
    path.write_bytes(path.read_bytes().replace(b"VOTES", b"VOTES ", 1))
    client.force_login(w.o1)
    r = client.get(reverse("tally:staff_file", args=[w.election.slug, name]))
    assert r.status_code == 409 and b"no longer matches its recorded hash" in r.content
    path.unlink()
    r = client.get(reverse("tally:staff_file", args=[w.election.slug, name]))
    assert r.status_code == 409 and b"missing" in r.content


def _file(name, data):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data, content_type="application/json")


def test_offline_commands_carry_the_frozen_tie_break_seed(keys, db, client, tmp_path):
    """The .pb file names the rule but not the tie-break seed: the page's command must pass it, or an
    offline count of a tied election differs from the server's."""
    import random

    from ballots.models import VoterRollEntry
    from pb.core.models import Phase
    from pb.core.services import election_advance
    from tally.engine.ties import seeded_order
    from tests.factories import ElectionFactory, PotFactory, ProposalFactory, council, official
    from tests.tally.conftest import World

    seed = next(s for s in (f"seed-{i}" for i in range(100)) if seeded_order(["P1", "P2"], s)[0] == "P2")

    class TiedWorld(World):
        def __init__(self):  # two projects, equal cost and votes, room for one: the seeded order decides
            self.o1, self.o2, self.o3, self.council = official(), official(), official(), council()
            self.election = ElectionFactory(rule="greedy", tie_break_seed=seed)
            self.north = PotFactory(election=self.election, slug="town", name="Town", budget=100)
            for code in ("P1", "P2"):
                ProposalFactory(pot=self.north, election=self.election, code=code, cost=60)
            self.roll = {
                "town": [
                    VoterRollEntry.objects.create(
                        election=self.election, ref_hash=f"town-{i}", ref_dob_hash="x", district=self.north
                    )
                    for i in range(25)
                ]
            }
            for phase in (Phase.PROPOSALS_OPEN, Phase.REVIEW, Phase.VOTING_OPEN):
                self.election = election_advance(actor=self.o1, election=self.election, to_phase=phase)
            self.rng, self.n, self.n_paper, self.codes = random.Random(1), 0, 0, {"town": ["P1", "P2"]}
            for code in ("P1", "P2") * 10:
                self.cast(self.north, projects=[code])

    w = TiedWorld()
    w.close()
    w.tally()
    assert official_run(w.election).summary["town"]["selected"] == ["P2"]  # the seed decided
    client.force_login(w.o2)
    html = client.get(reverse("tally:manage", args=[w.election.slug])).content.decode()
    import html as htmllib

    commands = htmllib.unescape(html.split('<pre id="offline-commands">', 1)[1].split("</pre>", 1)[0])
    assert commands.strip() == f"python -m tally run ballots-town.pb --json --seed {seed} > town.json"
    one_step = htmllib.unescape(html.split('<pre id="offline-one-step">', 1)[1].split("</pre>", 1)[0])
    assert one_step == f"python -m tally signoff-bundle ballots-town.pb --seed {seed} -o signoff.json"
    r = client.get(reverse("tally:staff_file", args=[w.election.slug, "ballots-town.pb"]))
    (tmp_path / "ballots-town.pb").write_bytes(r.content)

    def offline(args):
        proc = subprocess.run(
            [sys.executable, "-m", "tally", "run", "ballots-town.pb", "--json", *args],
            capture_output=True,
            cwd=tmp_path,
            env={"PYTHONPATH": str(ROOT)},
            check=True,
            timeout=120,
        )
        return proc.stdout

    without_seed = json.loads(offline([]))
    assert without_seed["selected"] == ["P1"]  # what the old instructions produced: a false mismatch
    with_seed = offline(commands.split(" --json ", 1)[1].split(" > ")[0].split())
    s = signoff_upload(actor=w.o2, election=w.election, data=b'{"town": ' + with_seed + b"}")
    assert s.matched


def test_signoff_bundle_refuses_files_not_named_as_downloaded(tmp_path):
    (tmp_path / "north.pb").write_text("x")
    proc = subprocess.run(
        [sys.executable, "-m", "tally", "signoff-bundle", "north.pb"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(ROOT)},
        timeout=60,
    )
    assert proc.returncode == 2 and "ballots-<pot>.pb" in proc.stderr and "Traceback" not in proc.stderr
