"""Following the money: publishing a result starts tracking exactly its funded projects; officials record
status, progress, spend, milestones and updates (validated, audited, announced); the public pages and the
Atom feed show them, and nothing of an unpublished election is reachable."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import TestCase
from django.urls import reverse
from PIL import Image

from pb.core.exceptions import PermissionDenied
from pb.core.models import AuditEvent
from pb.core.notifications.models import Notification, NotificationKind
from proposals.follows.models import Follow
from tally.tracking import services
from tally.tracking.models import ProjectTracking, TrackingStatus
from tally.tracking.services import TrackingInvalid, milestone_add, tracking_update, update_post
from tests.factories import UserFactory

ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture
def published(world):
    world.through_certify()
    world.publish()
    return world


def _jpeg_with_gps() -> SimpleUploadedFile:
    img = Image.new("RGB", (64, 48), (10, 120, 40))
    exif = Image.Exif()
    exif[0x8825] = {2: (52.0, 13.0, 0.0)}  # GPS info: where the photo was taken
    out = io.BytesIO()
    img.save(out, "JPEG", exif=exif)
    return SimpleUploadedFile("site.jpg", out.getvalue(), content_type="image/jpeg")


def test_publishing_tracks_exactly_the_funded_projects(published):
    cert_summary = published.election.certification.run.summary
    funded = {code for pot in cert_summary.values() for code in pot["selected"]}
    tracked = set(ProjectTracking.objects.values_list("proposal__code", flat=True))
    assert tracked == funded and funded
    t = ProjectTracking.objects.select_related("proposal").first()
    assert t.voted_cost == t.proposal.final_cost and t.status == TrackingStatus.PLANNED
    assert services.tracking_create_for(election=published.election) == 0  # idempotent


def test_officials_record_progress_audited_and_followers_notified(published, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    t = ProjectTracking.objects.select_related("proposal").first()
    follower = UserFactory(username="follows-the-money")
    Follow.objects.create(user=follower, proposal=t.proposal)
    with TestCase.captureOnCommitCallbacks(execute=True):
        tracking_update(
            actor=published.o1,
            tracking=t,
            status=TrackingStatus.CONSTRUCTION,
            progress=40,
            department="Public works",
            actual_spend=t.voted_cost + 5_000,
            spend_note="Steel prices rose.",
        )
        milestone_add(actor=published.o1, tracking=t, title="Works start")
        update = update_post(
            actor=published.o1,
            tracking=t,
            text="Foundations poured.",
            photo=_jpeg_with_gps(),
            photo_alt="Site",
        )
    t.refresh_from_db()
    assert (t.status, t.progress, t.spend_difference) == (TrackingStatus.CONSTRUCTION, 40, 5_000)
    told = Notification.objects.filter(user=follower, kind=NotificationKind.PROGRESS).order_by("pk")
    assert [n.data["what"] for n in told] == ["Under construction, 40%", "Works start", "Foundations poured."]
    assert all(n.url.endswith(f"/projects/{t.election.slug}/{t.proposal.code}/") for n in told)
    actions = list(AuditEvent.objects.filter(action__startswith="tracking.").values_list("action", flat=True))
    assert actions == ["tracking.update", "tracking.milestone", "tracking.post"]
    with Image.open(update.photo.path) as stored:  # re-encoded: the GPS position is gone
        assert 0x8825 not in stored.getexif()


def test_publication_tells_followers_funded_or_not(world):
    world.through_certify()
    on_ballot = list(world.election.proposals.all())
    fan = UserFactory(username="fan-of-everything")
    Follow.objects.bulk_create([Follow(user=fan, proposal=p) for p in on_ballot])
    world.publish()
    kinds = dict(Notification.objects.filter(user=fan).values_list("data__code", "kind"))
    funded = set(ProjectTracking.objects.values_list("proposal__code", flat=True))
    assert {c for c, k in kinds.items() if k == NotificationKind.FUNDED} == funded
    assert {c for c, k in kinds.items() if k == NotificationKind.NOT_FUNDED} == {
        p.code for p in on_ballot
    } - funded


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"status": "cancelled", "progress": 0}, "Say why"),
        ({"status": "done", "progress": 80}, "100 percent"),
        ({"status": "design", "progress": 101}, "0 to 100"),
        ({"status": "design", "progress": -1}, "0 to 100"),
        ({"status": "flying", "progress": 0}, "statuses"),
        ({"status": "design", "progress": 0, "actual_spend": 1}, "Explain why"),
        ({"status": "design", "progress": 0, "actual_spend": -5, "spend_note": "x"}, "0 or more"),
    ],
)
def test_bad_changes_are_refused_and_change_nothing(published, changes, message):
    t = ProjectTracking.objects.first()
    with pytest.raises(TrackingInvalid, match=message):
        tracking_update(actor=published.o1, tracking=t, **changes)
    t.refresh_from_db()
    assert (t.status, t.progress) == (TrackingStatus.PLANNED, 0)
    with pytest.raises(TrackingInvalid, match="Describe the photo"):
        update_post(actor=published.o1, tracking=t, text="x", photo=_jpeg_with_gps())
    with pytest.raises(TrackingInvalid, match=r"not an image|JPEG"):
        update_post(
            actor=published.o1,
            tracking=t,
            text="x",
            photo=SimpleUploadedFile("x.jpg", b"\xff\xd8not a jpeg", content_type="image/jpeg"),
            photo_alt="x",
        )


def test_only_officials_and_only_after_publication(world):
    world.through_certify()  # certified, not published: no tracking yet, nothing public
    assert not ProjectTracking.objects.exists()
    world.publish()
    t = ProjectTracking.objects.first()
    with pytest.raises(PermissionDenied):
        tracking_update(actor=world.council, tracking=t, status="design", progress=5)


def test_public_pages_and_the_feed(published, client):
    t = ProjectTracking.objects.select_related("proposal", "election").first()
    update_post(actor=published.o1, tracking=t, text="Benches delivered <script>alert(1)</script>")
    tracking_update(actor=published.o1, tracking=t, status="construction", progress=55)
    listing = client.get(reverse("tracking:projects"))
    assert listing.status_code == 200 and t.proposal.title in listing.content.decode()
    only_done = client.get(reverse("tracking:projects"), {"status": "done"}).content.decode()
    assert "0 funded projects" in only_done
    garbage = client.get(reverse("tracking:projects"), {"status": "x" * 5000, "page": "-1", "pot": "\x00"})
    assert garbage.status_code in (200, 400)
    page = client.get(reverse("tracking:project", args=[t.election.slug, t.proposal.code])).content.decode()
    assert "Under construction" in page and "55% done" in page and "<script>alert" not in page
    feed = client.get(reverse("tracking:feed"))
    assert feed["Content-Type"].startswith("application/atom+xml")
    root = ET.fromstring(feed.content)  # noqa: S314 - our own feed, in a test
    entries = root.findall(f"{ATOM}entry")
    assert len(entries) == 1 and t.proposal.code in entries[0].find(f"{ATOM}title").text
    assert client.get(reverse("tracking:manage", args=[t.election.slug, t.proposal.code])).status_code == 302


def test_nothing_of_an_unpublished_election_is_reachable(world, client):
    world.through_certify()
    # Force a tracking row onto the certified (unpublished) election: still not shown anywhere.
    p = world.election.proposals.first()
    ProjectTracking.objects.create(election=world.election, proposal=p, voted_cost=p.final_cost)
    assert p.title not in client.get(reverse("tracking:projects")).content.decode()
    assert client.get(reverse("tracking:project", args=[world.election.slug, p.code])).status_code == 404
    assert client.get(reverse("tracking:projects"), {"election": world.election.slug}).status_code == 200


def test_the_manage_page_over_http(published, client, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    t = ProjectTracking.objects.select_related("proposal", "election").first()
    url = reverse("tracking:manage", args=[t.election.slug, t.proposal.code])
    client.force_login(published.council)
    assert client.get(url).status_code == 403
    client.force_login(published.o1)
    assert client.get(url).status_code == 200
    r = client.post(url, {"form": "status", "status": "cancelled", "progress": "0"})
    assert r.status_code == 400 and "Say why the project was cancelled" in r.content.decode()
    r = client.post(url, {"form": "status", "status": "design", "progress": "15", "department": "Architects"})
    assert r.status_code == 302
    r = client.post(url, {"form": "milestone", "title": "Design ready", "due": "2026-13-45"})
    assert r.status_code == 400
    r = client.post(url, {"form": "milestone", "title": "Design ready", "due": "2026-11-30"})
    assert r.status_code == 302
    r = client.post(
        url, {"form": "update", "text": "Drawings", "photo": _jpeg_with_gps(), "photo_alt": "Plan"}
    )
    assert r.status_code == 302
    assert client.post(url, {"form": "nonsense"}).status_code == 400
    page = client.get(reverse("tracking:project", args=[t.election.slug, t.proposal.code])).content.decode()
    assert "In design" in page and "Design ready" in page and 'alt="Plan"' in page and "Architects" in page
