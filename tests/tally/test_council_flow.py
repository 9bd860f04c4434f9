"""The council's flow (issue 9): what awaits an official or council member on the home and election pages,
with links, and only what their role allows in the phase; the certified PDF previewed (staff only) before
publishing; the dashboard's phase button leads into the two-official closing flow instead of refusing."""

import re

from django.test import TestCase
from django.urls import reverse

from tally.filestore import election_dir
from tally.signoff import signoff_status
from tests.factories import UserFactory


def _todo(client, user, url):
    if user is None:
        client.logout()
    else:
        client.force_login(user)
    html = client.get(url).content.decode()
    return dict(re.findall(r'<a id="todo-[\w-]+?-(\w+)" href="([^"]+)"', html)), html


def test_home_and_election_pages_show_what_awaits_each_role(world, client):
    slug = world.election.slug
    manage = reverse("tally:manage", args=[slug])
    pages = [reverse("core:home"), reverse("core:election", args=[slug])]
    for page in pages:  # voting open: officials may close it; the council has nothing to do yet
        assert _todo(client, world.o1, page)[0] == {"close": manage + "#h-close"}
        assert _todo(client, world.council, page)[0] == {}
        assert _todo(client, UserFactory(), page)[0] == {}
        todo, html = _todo(client, None, page)
        assert todo == {} and "Waiting for you" not in html

    world.close()
    world.tally()
    for page in pages:
        todo, html = _todo(client, world.council, page)
        assert todo == {"signoff": manage + "#h-signoff"} and "0 of 2 matching re-counts" in html
        assert _todo(client, world.o2, page)[0] == {"signoff": manage + "#h-signoff"}  # no certify
    world.signoffs()
    for page in pages:
        todo, html = _todo(client, world.council, page)
        assert todo == {"signoff": manage + "#h-signoff", "certify": manage + "#h-cert"}
        assert "2 of 2 matching" in html
        assert "certify" not in _todo(client, world.o1, page)[0]
    world.certify()
    for page in pages:
        assert _todo(client, world.council, page)[0] == {"publish": manage + "#h-cert"}
        assert _todo(client, world.o1, page)[0] == {}
    world.publish()
    for page in pages:
        assert _todo(client, world.council, page)[0] == {}


def test_a_pending_mismatch_is_named_on_the_council_home_page(world, client):
    import json

    from tally.counting import official_run
    from tally.signoff import signoff_upload

    world.close()
    world.tally()
    run = official_run(world.election)
    wrong = {s: {"selected": [], "total_cost": 0} for s in run.summary}
    signoff_upload(actor=world.o2, election=world.election, data=json.dumps(wrong).encode())
    todo, html = _todo(client, world.council, reverse("core:home"))
    assert "a mismatch to resolve" in html and "certify" not in todo


def test_council_sees_certify_only_when_possible_and_a_pdf_preview_before_publishing(world, client):
    slug = world.election.slug
    manage = reverse("tally:manage", args=[slug])
    world.close()
    world.tally()
    client.force_login(world.council)
    html = client.get(manage).content.decode()
    assert 'id="certify"' not in html and 'id="certify-waiting"' in html
    world.signoffs()
    html = client.get(manage).content.decode()
    assert 'id="certify"' in html and 'id="pdf-preview"' not in html
    client.force_login(world.o1)
    assert 'id="certify"' not in client.get(manage).content.decode()  # officials do not certify

    client.force_login(world.council)
    with TestCase.captureOnCommitCallbacks(execute=True):
        r = client.post(reverse("tally:action", args=[slug, "certify"]))
    assert r.status_code == 302
    again = client.post(reverse("tally:action", args=[slug, "certify"]))  # a stale page, a second click
    assert again.status_code == 409 and b"already certified by" in again.content
    cert = world.election.certification
    html = client.get(manage).content.decode()
    preview_url = reverse("tally:staff_file", args=[slug, cert.pdf_name])
    assert f'<iframe id="pdf-preview" src="{preview_url}"' in html
    assert f'id="pdf-download" href="{preview_url}?download=1"' in html and cert.pdf_sha256 in html
    assert 'id="publish"' in html
    for f in world.election.export_files.all():  # the files to be published, with their hashes
        assert f.sha256 in html

    pass

    on_disk = (election_dir(world.election) / cert.pdf_name).read_bytes()
    r = client.get(preview_url)
    assert r.status_code == 200 and r["Content-Type"] == "application/pdf" and r.content == on_disk
    assert r["Content-Disposition"].startswith("inline") and r["X-Frame-Options"] == "SAMEORIGIN"
    assert "frame-ancestors 'self'" in r["Content-Security-Policy"]
    assert client.get(preview_url + "?download=1")["Content-Disposition"].startswith("attachment")
    # not public before publication
    assert client.get(reverse("tally:file", args=[slug, cert.pdf_name])).status_code == 404
    client.force_login(UserFactory())
    assert client.get(preview_url).status_code == 403
    client.logout()
    assert client.get(preview_url).status_code == 302


def test_dashboard_move_to_voting_closed_leads_into_the_two_official_closing_flow(world, client):
    slug = world.election.slug
    close_url = reverse("tally:manage", args=[slug]) + "#h-close"
    client.force_login(world.o1)
    html = client.get(reverse("core:manage", args=[slug])).content.decode()
    assert f'id="advance-link" href="{close_url}"' in html
    r = client.get(reverse("core:advance", args=[slug]))
    assert r.status_code == 302 and r["Location"] == close_url
    # a stale confirmation form posted anyway: led there too, not refused with the same button again
    r = client.post(reverse("core:advance", args=[slug]), {"to_phase": "voting_closed"})
    assert r.status_code == 302 and r["Location"] == close_url
    page = client.get(close_url.split("#")[0]).content.decode()
    assert 'id="close-request"' in page and "Closing takes two officials" in page

    assert client.post(reverse("tally:action", args=[slug, "close-request"])).status_code == 302
    client.force_login(world.o2)
    page = client.get(close_url.split("#")[0]).content.decode()
    assert 'id="close-confirm"' in page
    assert client.post(reverse("tally:action", args=[slug, "close-confirm"])).status_code == 302
    world.election.refresh_from_db()
    assert world.election.phase == "voting_closed"
    html = client.get(reverse("core:manage", args=[slug])).content.decode()
    count_url = reverse("tally:manage", args=[slug]) + "#h-count"
    assert f'id="advance-link" href="{count_url}"' in html  # next: the official count, on the tally page


def test_phases_before_the_vote_still_advance_on_the_dashboard(db, client):
    from pb.core.models import Phase
    from tests.factories import ElectionFactory, official

    election = ElectionFactory(phase=Phase.PROPOSALS_OPEN)
    client.force_login(official())
    r = client.get(reverse("core:advance", args=[election.slug]))
    assert r.status_code == 200 and b'name="to_phase" value="review"' in r.content
    r = client.post(reverse("core:advance", args=[election.slug]), {"to_phase": "review"})
    assert r.status_code == 302
    election.refresh_from_db()
    assert election.phase == Phase.REVIEW


def test_roles_granted_on_another_election_see_and_do_nothing_here(world, client):
    from pb.core.models import ElectionRole, Role

    pass
    from tally.engine import manifest as mf
    from tests.factories import ElectionFactory

    other = ElectionFactory()
    elsewhere_council, elsewhere_official = UserFactory(), UserFactory()
    ElectionRole.objects.create(user=elsewhere_council, role=Role.COUNCIL, election=other)
    ElectionRole.objects.create(user=elsewhere_official, role=Role.OFFICIAL, election=other)
    world.close()
    world.tally()
    world.signoffs()
    slug = world.election.slug
    file_url = reverse("tally:staff_file", args=[slug, mf.pb_file("north")])
    for user in (elsewhere_council, elsewhere_official):
        for page in (reverse("core:home"), reverse("core:election", args=[slug])):
            assert _todo(client, user, page)[0] == {}
        assert client.get(file_url).status_code == 403
        assert client.get(reverse("tally:manage", args=[slug])).status_code == 403
    client.force_login(elsewhere_council)
    r = client.post(reverse("tally:action", args=[slug, "certify"]))
    assert r.status_code == 403 and not hasattr(world.election, "certification")
    # granted on this election: the council member sees the certify link
    ElectionRole.objects.create(user=elsewhere_council, role=Role.COUNCIL, election=world.election)
    assert "certify" in _todo(client, elsewhere_council, reverse("core:home"))[0]
    assert signoff_status(world.election)["reached"]
