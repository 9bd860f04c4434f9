"""An official records progress and a milestone with a photo on a funded project; the public tracking page,
the "what we built" list, its map and the Atom feed show it; the project's follower is notified (on the site
and by e-mail); the pages pass axe at 390 and 1280 px."""

import io
from decimal import Decimal

import pytest
from django.core import mail
from PIL import Image
from playwright.sync_api import expect

from pb.core.notifications.models import Notification, NotificationKind
from proposals.follows.models import Follow
from proposals.models import Proposal
from tally.tracking.models import ProjectTracking
from tests.factories import UserFactory

pytestmark = pytest.mark.e2e


@pytest.fixture
def published(publish_world, settings, tmp_path):
    from tests.tally.conftest import World

    settings.MEDIA_ROOT = tmp_path / "media"
    return publish_world(lambda: World(n_online=20, n_paper=2))


def test_an_official_records_progress_and_residents_see_it(
    page, base_url, login, published, accessible, tmp_path
):
    t = ProjectTracking.objects.select_related("proposal", "election").first()
    Proposal.objects.filter(pk=t.proposal_id).update(latitude=Decimal("52.23"), longitude=Decimal("21.01"))
    follower = UserFactory(username="fiona", email="fiona@example.org")
    Follow.objects.get_or_create(user=follower, proposal=t.proposal)
    mail.outbox.clear()
    photo = tmp_path / "site.jpg"
    buf = io.BytesIO()
    Image.new("RGB", (80, 60), (200, 120, 40)).save(buf, "JPEG")
    photo.write_bytes(buf.getvalue())
    login(page, published.o1.username)
    page.goto(f"{base_url}/projects/{t.election.slug}/{t.proposal.code}/")
    page.get_by_role("link", name="Record progress").click()
    accessible(page)
    page.locator("#id_status").select_option(label="Under construction")
    page.get_by_label("Progress (%)").fill("45")
    page.get_by_label("Responsible department").fill("Public works")
    page.get_by_role("button", name="Save status").click()
    expect(page.locator(".messages")).to_contain_text("Saved")
    page.locator("#id_title").fill("Foundations poured")
    page.get_by_label("Reached on (YYYY-MM-DD)").fill("2026-10-01")
    page.get_by_role("button", name="Add milestone").click()
    page.locator("#id_text").fill("The foundations are in.")
    page.get_by_label("Photo (JPEG, PNG or WebP)").set_input_files(str(photo))
    page.get_by_label("What the photo shows (for people who cannot see it)").fill("Concrete foundations")
    page.get_by_role("button", name="Post update").click()
    expect(page.locator(".messages")).to_contain_text("Saved")

    page.goto(f"{base_url}/projects/{t.election.slug}/{t.proposal.code}/")
    expect(page.locator("#tracking-status")).to_have_text("Under construction")
    expect(page.locator("#milestones")).to_contain_text("Foundations poured")
    expect(page.get_by_role("img", name="Concrete foundations")).to_be_visible()
    accessible(page)
    page.goto(f"{base_url}/projects/")
    expect(page.locator(".tracked-project", has_text=t.proposal.title)).to_contain_text("45%")
    expect(page.locator("#built-map .leaflet-interactive")).to_have_count(1)  # its marker on the map
    expect(page.locator("#built-map-list")).to_contain_text(t.proposal.title)
    accessible(page)
    feed = page.request.get(f"{base_url}/projects/feed.atom")
    assert feed.ok and "The foundations are in." in feed.text()

    # The follower: told on the site (one notification per recorded change) and by e-mail (sent by its task).
    notes = Notification.objects.filter(user=follower, kind=NotificationKind.PROGRESS)
    assert notes.count() >= 3
    assert all(n.url == f"/projects/{t.election.slug}/{t.proposal.code}/" for n in notes)
    to_follower = [m for m in mail.outbox if m.to == ["fiona@example.org"]]
    assert len(to_follower) == notes.count()
