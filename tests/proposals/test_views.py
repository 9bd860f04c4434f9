import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from pb.core.models import AuditEvent, Phase
from proposals.models import Proposal, ProposalStatus
from tests.factories import (
    CategoryFactory,
    ElectionFactory,
    PotFactory,
    ProposalFactory,
    UserFactory,
    official,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def election():
    return ElectionFactory(phase=Phase.PROPOSALS_OPEN, slug="riverton")


@pytest.fixture
def pot(election):
    return PotFactory(election=election, slug="north", name="North")


@pytest.fixture
def category(election):
    return CategoryFactory(election=election, slug="parks", name="Parks")


@pytest.fixture
def form_data(pot, category):
    return {
        "title": "Shade trees on Mill Street",
        "description": "Plant twenty trees.",
        "pot": pot.pk,
        "category": category.pk,
        "cost": "18000",
        "location": "Mill Street",
        "latitude": "",
        "longitude": "",
    }


def image_file(fmt="PNG", name="pic.png", size=(20, 20)):
    buf = io.BytesIO()
    Image.new("RGB", size, "green").save(buf, fmt)
    return SimpleUploadedFile(name, buf.getvalue(), content_type=f"image/{fmt.lower()}")


def test_resident_submits_a_proposal_with_an_image(client, election, form_data, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    client.force_login(UserFactory())
    url = reverse("proposals:create", args=[election.slug])
    assert client.get(url).status_code == 200
    resp = client.post(
        url,
        {**form_data, "image": image_file("WEBP", "pic.webp"), "image_alt": "Bare street", "submit": "1"},
        HTTP_ACCEPT_LANGUAGE="vi",
    )
    assert resp.status_code == 302
    p = Proposal.objects.get()
    assert (p.code, p.status, p.cost) == ("P001", ProposalStatus.SUBMITTED, 18000)
    assert p.image.name.startswith("proposals/")
    detail = client.get(resp["Location"])
    assert b"Shade trees on Mill Street" in detail.content


def test_language_stored_is_the_active_language(client, election, form_data):
    client.force_login(UserFactory())
    client.post(reverse("set_language"), {"language": "vi"})
    client.post(reverse("proposals:create", args=[election.slug]), form_data)
    assert Proposal.objects.get().language == "vi"


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"cost": "-100"}, "cost", "positive whole number"),
        ({"cost": "12.50"}, "cost", "whole number"),
        ({"cost": "abc"}, "cost", "whole number"),
        ({"title": "t" * 141}, "title", "at most 140 characters"),
        ({"description": "d" * 5001}, "description", "at most 5000 characters"),
        ({"latitude": "91", "longitude": "0"}, "latitude", "less than or equal to 90"),
    ],
)
def test_bad_form_input_gets_a_specific_message_400_and_nothing_saved(
    client, election, form_data, change, field, message
):
    client.force_login(UserFactory())
    resp = client.post(reverse("proposals:create", args=[election.slug]), {**form_data, **change})
    assert resp.status_code == 400
    assert message in str(resp.context["form"].errors[field])
    assert not Proposal.objects.exists() and not AuditEvent.objects.exists()


@pytest.mark.parametrize(
    ("upload", "message"),
    [
        (SimpleUploadedFile("fake.png", b"not really a picture", content_type="image/png"), "not an image"),
        (lambda: image_file("GIF", "anim.gif"), "JPEG, PNG or WebP"),
        (lambda: image_file("BMP", "big.png", size=(1400, 1400)), "too large"),
    ],
)
def test_bad_images_are_refused(client, election, form_data, upload, message):
    client.force_login(UserFactory())
    upload = upload() if callable(upload) else upload
    resp = client.post(reverse("proposals:create", args=[election.slug]), {**form_data, "image": upload})
    assert resp.status_code == 400
    assert message in str(resp.context["form"].errors["image"])
    assert not Proposal.objects.exists()


def test_editing_someone_elses_proposal_is_403_with_a_message(client, election, form_data, pot):
    p = ProposalFactory(pot=pot, status=ProposalStatus.DRAFT, author=UserFactory(), title="Original")
    client.force_login(UserFactory())
    url = reverse("proposals:edit", args=[election.slug, p.code])
    # A draft is private to its author, so to anyone else it does not exist.
    assert client.get(url).status_code == 404
    p.status = ProposalStatus.SUBMITTED
    p.save()
    for resp in (client.get(url), client.post(url, {**form_data, "title": "Hijacked"})):
        assert resp.status_code == 403
        assert "Only the author" in resp.content.decode()
    p.refresh_from_db()
    assert p.title == "Original"


def test_author_edits_draft_then_submitted_is_locked(client, election, form_data, pot):
    author = UserFactory()
    client.force_login(author)
    client.post(reverse("proposals:create", args=[election.slug]), form_data)
    p = Proposal.objects.get()
    url = reverse("proposals:edit", args=[election.slug, p.code])
    assert client.post(url, {**form_data, "title": "Better title"}).status_code == 302
    assert client.post(reverse("proposals:submit", args=[election.slug, p.code])).status_code == 302
    resp = client.post(url, {**form_data, "title": "Sneaky change"})
    assert resp.status_code == 409
    p.refresh_from_db()
    assert (p.title, p.status) == ("Better title", ProposalStatus.SUBMITTED)


def test_proposing_outside_the_phase_is_refused(client, election, form_data):
    election.phase = Phase.REVIEW
    election.save()
    client.force_login(UserFactory())
    resp = client.post(reverse("proposals:create", args=[election.slug]), form_data)
    assert resp.status_code == 403 and "Review" in resp.content.decode()


def test_anonymous_is_sent_to_sign_in(client, election):
    resp = client.get(reverse("proposals:create", args=[election.slug]))
    assert resp.status_code == 302 and "/accounts/login/" in resp["Location"]


@pytest.fixture
def listing(election, pot, category):
    south = PotFactory(election=election, slug="south", name="South")
    roads = CategoryFactory(election=election, slug="roads", name="Roads")
    ProposalFactory(pot=pot, category=category, title="Playground renewal", cost=50_000)
    ProposalFactory(
        pot=pot, category=roads, title="Cycle lane", cost=200_000, status=ProposalStatus.SUBMITTED
    )
    ProposalFactory(
        pot=south, category=category, title="Community garden", description="vegetables", cost=8_000
    )
    ProposalFactory(pot=south, category=roads, title="Secret draft", status=ProposalStatus.DRAFT)
    ProposalFactory(
        pot=south, category=roads, title="Crossing", cost=9_000, adjusted_cost=30_000, cost_note="signals"
    )
    return election


def titles(resp):
    return [p.title for p in resp.context["page"]]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, ["Playground renewal", "Cycle lane", "Community garden", "Crossing"]),
        ({"q": "VEGETABLES"}, ["Community garden"]),
        ({"pot": "south"}, ["Community garden", "Crossing"]),
        ({"category": "roads"}, ["Cycle lane", "Crossing"]),
        ({"status": "submitted"}, ["Cycle lane"]),
        (
            {"cost_min": "10000", "cost_max": "60000"},
            ["Playground renewal", "Crossing"],
        ),  # adjusted cost counts
    ],
)
def test_public_list_filters(client, listing, query, expected):
    resp = client.get(reverse("proposals:list", args=[listing.slug]), query)
    assert resp.status_code == 200
    assert titles(resp) == expected
    assert "Secret draft" not in resp.content.decode()


def test_htmx_request_gets_only_the_results_partial(client, listing):
    url = reverse("proposals:list", args=[listing.slug])
    resp = client.get(url, {"q": "garden"}, HTTP_HX_REQUEST="true")
    html = resp.content.decode()
    assert html.lstrip().startswith('<div id="results">')
    assert "<html" not in html and "Community garden" in html and "Cycle lane" not in html
    assert "HX-Request" in resp["Vary"]
    restore = client.get(url, {"q": "garden"}, HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true")
    assert "<html" in restore.content.decode()
    full = client.get(url, {"q": "garden"}).content.decode()
    assert "<html" in full and 'hx-trigger="input changed delay:300ms, change"' in full
    # One live region, outside #results (it must survive the swap), filled out of band in the partial.
    assert full.count('role="status"') == 1
    assert full.index(
        'id="results-live" class="visually-hidden" role="status" aria-live="polite"'
    ) > full.index('id="results"')
    assert html.count('id="results-live"') == 1 and 'hx-swap-oob="innerHTML"' in html


def test_bad_filter_is_400_with_message(client, listing):
    resp = client.get(reverse("proposals:list", args=[listing.slug]), {"cost_min": "-3", "cost_max": "x"})
    assert resp.status_code == 400
    assert resp.context["form"].errors["cost_min"] and resp.context["form"].errors["cost_max"]


def test_a_bad_filter_drops_only_itself(client, listing):
    resp = client.get(
        reverse("proposals:list", args=[listing.slug]), {"pot": "south", "cost_min": "10", "cost_max": "1"}
    )
    assert resp.status_code == 400 and resp.context["form"].errors["cost_max"]
    assert titles(resp) == ["Community garden", "Crossing"]  # the district still applies
    assert "were not applied" in resp.content.decode()


def test_pagination(client, election, pot):
    for i in range(15):
        ProposalFactory(pot=pot, title=f"Item {i:02d}")
    url = reverse("proposals:list", args=[election.slug])
    assert len(titles(client.get(url))) == 12
    assert titles(client.get(url, {"page": 2})) == ["Item 12", "Item 13", "Item 14"]


def test_drafts_are_private(client, election, pot):
    author = UserFactory()
    p = ProposalFactory(pot=pot, status=ProposalStatus.DRAFT, author=author)
    url = reverse("proposals:detail", args=[election.slug, p.code])
    assert client.get(url).status_code == 404
    client.force_login(author)
    assert client.get(url).status_code == 200


def test_official_reviews_through_the_form(client, election, pot):
    p = ProposalFactory(pot=pot, status=ProposalStatus.SUBMITTED, cost=10_000)
    client.force_login(official())
    url = reverse("proposals:review", args=[election.slug, p.code])
    assert client.get(url).status_code == 200
    resp = client.post(url, {"decision": "not_feasible", "reason": ""})
    assert resp.status_code == 400 and "public reason" in resp.content.decode()
    resp = client.post(url, {"decision": "feasible", "adjusted_cost": "-5", "cost_note": "x"})
    assert resp.status_code == 400
    resp = client.post(url, {"decision": "feasible", "adjusted_cost": "12000", "cost_note": "Permits"})
    assert resp.status_code == 302
    p.refresh_from_db()
    assert (p.status, p.final_cost) == (ProposalStatus.FEASIBLE, 12_000)


def test_resident_cannot_open_the_review_page(client, election, pot):
    p = ProposalFactory(pot=pot, status=ProposalStatus.SUBMITTED)
    client.force_login(UserFactory())
    assert client.get(reverse("proposals:review", args=[election.slug, p.code])).status_code == 403


def test_merge_through_the_form(client, election, pot):
    keep = ProposalFactory(pot=pot, status=ProposalStatus.SUBMITTED)
    dup = ProposalFactory(pot=pot, status=ProposalStatus.SUBMITTED)
    client.force_login(official())
    url = reverse("proposals:merge", args=[election.slug, dup.code])
    resp = client.post(url, {"keep": "P999"})
    assert resp.status_code == 400 and "no proposal with this project id" in resp.content.decode()
    assert client.post(url, {"keep": keep.code}).status_code == 302
    dup.refresh_from_db()
    assert dup.merged_into == keep


def test_dashboard_and_phase_confirmation(client, election, pot):
    ProposalFactory(pot=pot, status=ProposalStatus.SUBMITTED, title="Needs review")
    client.force_login(official())
    resp = client.get(reverse("core:manage", args=[election.slug]))
    assert resp.status_code == 200 and "Needs review" in resp.content.decode()
    url = reverse("core:advance", args=[election.slug])
    confirm = client.get(url)
    assert confirm.status_code == 200 and "cannot be undone" in confirm.content.decode()
    election.refresh_from_db()
    assert election.phase == Phase.PROPOSALS_OPEN  # GET only asks
    assert client.post(url, {"to_phase": "voting_open"}).status_code == 409
    assert client.post(url, {"to_phase": "review"}).status_code == 302
    election.refresh_from_db()
    assert election.phase == Phase.REVIEW


def test_residents_get_403_on_dashboard_and_phase(client, election):
    client.force_login(UserFactory())
    assert client.get(reverse("core:manage", args=[election.slug])).status_code == 403
    assert (
        client.post(reverse("core:advance", args=[election.slug]), {"to_phase": "review"}).status_code == 403
    )
    election.refresh_from_db()
    assert election.phase == Phase.PROPOSALS_OPEN


def test_opening_the_vote_warns_about_unreviewed_proposals(client, election, pot):
    election.phase = Phase.REVIEW
    election.save()
    ProposalFactory(pot=pot, status=ProposalStatus.SUBMITTED)
    client.force_login(official())
    resp = client.get(reverse("core:advance", args=[election.slug]))
    assert "1 proposal is still waiting for review" in resp.content.decode()


def test_phase_confirmation_page_is_403_for_residents(client, election):
    client.force_login(UserFactory())
    resp = client.get(reverse("core:advance", args=[election.slug]))
    assert resp.status_code == 403 and "role" in resp.content.decode()


def test_stored_images_lose_their_metadata_and_file_name(client, election, form_data, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x8825] = {2: (51.0, 30.0, 0.0)}  # GPSInfo: latitude of the author's home
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), "blue").save(buf, "JPEG", exif=exif)
    upload = SimpleUploadedFile("IMG_home_street_42.jpg", buf.getvalue(), content_type="image/jpeg")
    client.force_login(UserFactory())
    resp = client.post(
        reverse("proposals:create", args=[election.slug]),
        {**form_data, "image": upload, "image_alt": "Blue wall"},
    )
    assert resp.status_code == 302
    p = Proposal.objects.get()
    assert "home_street" not in p.image.name and p.image.name.endswith(".jpg")
    with Image.open(p.image.path) as stored:
        assert stored.size == (64, 48)
        assert not stored.getexif()


@pytest.mark.parametrize("cost", ["abc", "5,000", "12.5"])
def test_cost_box_keeps_what_was_typed_and_says_what_is_wrong(client, election, form_data, cost):
    # A text box with a numeric keypad: <input type=number> would drop "5,000" and the resident would be
    # told the cost is "required".
    client.force_login(UserFactory())
    url = reverse("proposals:create", args=[election.slug])
    page = client.get(url).content.decode()
    assert 'name="cost"' in page and 'inputmode="numeric"' in page and 'type="number"' not in page
    assert f"In whole {election.currency}" in page
    resp = client.post(url, {**form_data, "cost": cost})
    assert resp.status_code == 400
    body = resp.content.decode()
    assert "whole number" in body and f'value="{cost}"' in body
    assert not Proposal.objects.exists()


def test_merge_accepts_the_project_id_in_any_case_and_explains_a_self_merge(client, election, pot):
    keep = ProposalFactory(pot=pot, status=ProposalStatus.SUBMITTED)
    dup = ProposalFactory(pot=pot, status=ProposalStatus.SUBMITTED)
    client.force_login(official())
    url = reverse("proposals:merge", args=[election.slug, dup.code])
    resp = client.post(url, {"keep": dup.code})
    assert resp.status_code == 400 and "cannot be merged into itself" in resp.content.decode()
    assert client.post(url, {"keep": f" {keep.code.lower()} "}).status_code == 302
    dup.refresh_from_db()
    assert dup.merged_into == keep


def test_review_form_help_texts_are_the_ones_fields_point_to(client, election, pot):
    p = ProposalFactory(pot=pot, status=ProposalStatus.SUBMITTED)
    client.force_login(official())
    page = client.get(reverse("proposals:review", args=[election.slug, p.code])).content.decode()
    for field in ("reason", "cost_note"):
        assert f'aria-describedby="id_{field}_helptext"' in page and f'id="id_{field}_helptext"' in page
    # The way back: the dashboard and the public page of what is being reviewed.
    assert f'href="{reverse("core:manage", args=[election.slug])}"' in page
    assert f'href="{reverse("proposals:detail", args=[election.slug, p.code])}"' in page


def test_post_only_addresses_lead_back_to_their_form_on_get(client, election, pot):
    p = ProposalFactory(pot=pot, status=ProposalStatus.SUBMITTED)
    client.force_login(official())
    for name, args, target in [
        (
            "proposals:merge",
            [election.slug, p.code],
            reverse("proposals:review", args=[election.slug, p.code]),
        ),
        (
            "proposals:submit",
            [election.slug, p.code],
            reverse("proposals:detail", args=[election.slug, p.code]),
        ),
        ("proposals:import_confirm", [election.slug], reverse("proposals:import", args=[election.slug])),
    ]:
        resp = client.get(reverse(name, args=args))
        assert resp.status_code == 302 and resp["Location"] == target, name
    p.refresh_from_db()
    assert (
        p.status == ProposalStatus.SUBMITTED
        and not AuditEvent.objects.filter(action="proposal.merge").exists()
    )
