"""Certification is one atomic step (issue 9), on PostgreSQL with real row locks and real commits: ten council
requests at once give exactly one certification, nine clear 409s and no 500, and the published files verify;
a certification that fails after building its files leaves the published folder and the database as they
were; one official racing themselves signs off once."""

import hashlib
import json
import threading

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from pb.core import services as core_services
from pb.core.exceptions import PhaseError
from pb.core.models import Phase
from tally.certification.services import certification_check, election_certify
from tally.counting import official_run
from tally.engine import manifest as mf
from tally.filestore import election_dir
from tally.models import Certification, ExportFile, SignOff
from tally.signoff import signoff_recount, signoff_upload, signoff_withdraw
from tests.factories import council
from tests.tally.conftest import World
from tests.tally.test_flow import verify_cli

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _folder_state(election) -> dict[str, str]:
    """Every entry of the election's folder (hidden ones too) with the SHA-256 of its bytes."""
    folder = election_dir(election)
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        for p in sorted(folder.iterdir())
    }


def _race(n, work):
    barrier = threading.Barrier(n)
    results, lock = [], threading.Lock()

    def worker(i):
        try:
            barrier.wait(timeout=60)
            result = work(i)
        except Exception as exc:  # any exception is a failure, reported below
            result = ("error", repr(exc))
        finally:
            connection.close()
        with lock:
            results.append(result)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    return results


def test_ten_simultaneous_certify_requests_certify_once_and_the_files_verify(keys):
    w = World()
    w.close()
    w.tally()
    w.signoffs()
    members = [w.council, *(council() for _ in range(4))]
    clients = []
    for i in range(10):
        c = Client()
        c.force_login(members[i % len(members)])  # some the same member twice (a double click)
        clients.append(c)
    url = reverse("tally:action", args=[w.election.slug, "certify"])
    before = _folder_state(w.election)
    assert mf.AUDIT_FILE not in before

    def certify(i):
        r = clients[i].post(url)
        return (r.status_code, r.content.decode())

    results = _race(10, certify)

    codes = sorted(str(code) for code, _body in results)  # "error" for an exception (a 500)
    assert codes == ["302"] + ["409"] * 9, [(c, b[-300:]) for c, b in results]
    cert = Certification.objects.select_related("certified_by").get()
    who = cert.certified_by.get_full_name() or cert.certified_by.get_username()
    for code, body in results:
        if code == 409:
            assert "already certified by" in body and who in body, body[-2000:]
    assert Certification.objects.count() == 1
    w.election.refresh_from_db()
    assert w.election.phase == Phase.CERTIFIED

    # On disk: the ballot files as they were, plus exactly the certified audit log and PDF, nothing staged.
    after = _folder_state(w.election)
    assert {k: v for k, v in after.items() if k in before} == before
    assert set(after) - set(before) == {mf.AUDIT_FILE, cert.pdf_name}
    manifest = json.loads(cert.manifest)
    assert after[mf.AUDIT_FILE] == manifest["files"][mf.AUDIT_FILE]
    assert after[cert.pdf_name] == cert.pdf_sha256
    assert ExportFile.objects.filter(election=w.election, name=mf.AUDIT_FILE).count() == 1

    report = certification_check(w.election)
    assert report.ok, report
    folder = election_dir(w.election)
    proc = verify_cli(folder / cert.pdf_name, folder)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_certification_that_fails_after_building_its_files_changes_nothing(keys):
    w = World()
    w.close()
    w.tally()
    w.signoffs()
    before = _folder_state(w.election)
    files_before = set(ExportFile.objects.values_list("name", "sha256"))

    def refuse(*, election, actor, to_phase):  # a phase hook that refuses, after the PDF is built
        if to_phase == Phase.CERTIFIED:
            raise PhaseError("refused by a test hook")

    core_services.PHASE_HOOKS.append(refuse)
    try:
        with pytest.raises(PhaseError, match="test hook"):
            election_certify(actor=w.council, election=w.election)
    finally:
        core_services.PHASE_HOOKS.remove(refuse)
    assert _folder_state(w.election) == before  # no audit.jsonl, no PDF, no staging folder left
    assert set(ExportFile.objects.values_list("name", "sha256")) == files_before
    assert not Certification.objects.exists()
    w.election.refresh_from_db()
    assert w.election.phase == Phase.TALLIED

    cert = election_certify(actor=w.council, election=w.election)  # and it can still be done
    assert set(_folder_state(w.election)) == set(before) | {mf.AUDIT_FILE, cert.pdf_name}
    assert certification_check(w.election).ok


def test_one_official_racing_themselves_signs_off_once(keys):
    w = World()
    w.close()
    w.tally()
    results = _race(
        6,
        lambda i: (
            ("ok", signoff_recount(actor=w.o2, election=w.election).pk)
            if i % 2
            else (
                "ok",
                signoff_upload(
                    actor=w.o2,
                    election=w.election,
                    data=json.dumps(official_run(w.election).summary).encode(),
                ).pk,
            )
        ),
    )
    assert sum(r[0] == "ok" for r in results) == 1, results
    assert all(r[0] == "ok" or "AlreadySignedOff" in r[1] for r in results), results
    assert SignOff.objects.filter(official=w.o2, withdrawn_at__isnull=True).count() == 1


def test_a_withdrawal_racing_the_certification_never_leaves_a_result_certified_on_it(keys):
    """Withdrawing a sign-off and certifying queue on the election row: either the certification rests on
    standing sign-offs only (and the withdrawal is refused), or the withdrawal wins and certification is
    refused for want of the quorum. Never both."""
    for attempt in range(3):
        w = World(n_online=25, n_paper=0, seed=attempt)
        w.close()
        w.tally()
        w.signoffs()
        mine = SignOff.objects.get(run__election=w.election, official=w.o2)

        def work(i, w=w, mine=mine):
            if i == 0:
                election_certify(actor=w.council, election=w.election)
                return ("certified", "")
            signoff_withdraw(actor=w.o2, election=w.election, signoff_id=mine.pk, reason="race")
            return ("withdrawn", "")

        results = _race(2, work)
        won = sorted(r[0] for r in results if r[0] in ("certified", "withdrawn"))
        assert len(won) == 1, results
        # the loser is told why: no quorum any more, or no withdrawing once certified
        assert all(r[0] != "error" or r[1].startswith(("PhaseError", "PermissionDenied")) for r in results)
        mine.refresh_from_db()
        cert = Certification.objects.filter(election=w.election).first()
        if won == ["certified"]:
            assert mine.withdrawn_at is None
            names = [s["official"] for s in json.loads(cert.manifest)["signoffs"]]
            assert len(names) == 2
        else:
            assert cert is None and mine.withdrawn_at is not None
