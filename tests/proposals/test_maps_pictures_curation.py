"""Maps, pictures and careful curation (issue #12 items 5, 6 and 8), through the services and HTTP."""

import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from pb.core.models import AuditEvent, Phase
from proposals import selectors, services
from proposals.exceptions import ProposalInvalid
from proposals.models import Proposal, ProposalStatus
from proposals.search import fold
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
    return ElectionFactory(phase=Phase.PROPOSALS_OPEN, slug="riverton", currency="EUR")


@pytest.fixture
def north(election):
    return PotFactory(election=election, slug="north", name="Northbank", budget=100_000)


@pytest.fixture
def east(election):
    return PotFactory(election=election, slug="east", name="Eastfield", budget=100_000)


@pytest.fixture
def category(election):
    return CategoryFactory(election=election, slug="parks", name="Parks")


def photo(fmt="JPEG", size=(1200, 900), exif=True):
    buf = io.BytesIO()
    options = {}
    if exif:
        data = Image.Exif()
        data[0x010F] = "PhoneMaker"
        data[0x8825] = {2: (51.0, 30.0, 0.0)}  # GPS latitude of the author's home
        options["exif"] = data
    Image.new("RGB", size, "green").save(buf, fmt, **options)
    return SimpleUploadedFile(f"IMG_1234.{fmt.lower()}", buf.getvalue(), content_type=f"image/{fmt.lower()}")


def form(north, category, **extra):
    return {
        "title": "Đèn năng lượng mặt trời",
        "description": "Solar lamps along the river path.",
        "pot": north.pk,
        "category": category.pk,
        "cost": "18000",
        "location": "Bến Nghé river path",
        "latitude": "51.551200",
        "longitude": "-0.100500",
        **extra,
    }


# --- search ignores accents and diacritics ------------------------------------------------------------------


def test_fold():
    assert fold("Đèn năng lượng MẶT TRỜI") == "den nang luong mat troi"
    assert fold("  Crème   brûlée ") == "creme brulee"
    assert fold("\u0301\u0300") == ""


@pytest.mark.parametrize("query", ["den nang luong", "ĐÈN NĂNG", "đèn năng lượng", "nang  luong", "ben nghe"])
def test_search_ignores_diacritics(client, election, north, category, query):
    client.force_login(UserFactory())
    r = client.post(reverse("proposals:create", args=["riverton"]), {**form(north, category), "submit": "1"})
    assert r.status_code == 302
    ProposalFactory(pot=north, code="P900", title="Bench by the pond", status=ProposalStatus.SUBMITTED)
    found = selectors.proposals_public(election=election, filters={"q": query})
    assert [p.title for p in found] == ["Đèn năng lượng mặt trời"]
    page = client.get(reverse("proposals:list", args=["riverton"]), {"q": query})
    assert "Đèn năng lượng" in page.content.decode() and "Bench by the pond" not in page.content.decode()


def test_a_query_of_accents_alone_does_not_match_everything(election, north):
    ProposalFactory(pot=north, title="Bench", status=ProposalStatus.SUBMITTED)
    assert list(selectors.proposals_public(election=election, filters={"q": "\u0301"})) == []


def test_rows_without_folded_text_are_still_found(election, north):
    ProposalFactory(pot=north, title="Bench by the pond", status=ProposalStatus.SUBMITTED)  # no search_text
    assert [p.title for p in selectors.proposals_public(election=election, filters={"q": "pond"})] == [
        "Bench by the pond"
    ]


def test_the_migration_fills_the_folded_text(election, north):
    from importlib import import_module

    from django.apps import apps

    migration = import_module("proposals.migrations.0004_images_and_search")
    p = ProposalFactory(pot=north, title="Cây xanh", status=ProposalStatus.SUBMITTED)
    migration.fill_search_text(apps, None)
    p.refresh_from_db()
    assert "cay xanh" in p.search_text


# --- pictures: EXIF stripped, thumbnail made, alt text required ---------------------------------------------


def test_picture_needs_a_description_and_gets_a_thumbnail(
    client, election, north, category, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    client.force_login(UserFactory())
    url = reverse("proposals:create", args=["riverton"])
    r = client.post(url, {**form(north, category), "image": photo(), "image_alt": "   "})
    assert r.status_code == 400 and "Describe the picture" in r.content.decode()
    assert not Proposal.objects.exists()
    r = client.post(
        url, {**form(north, category), "image": photo(), "image_alt": "Dark  river path", "submit": "1"}
    )
    assert r.status_code == 302
    p = Proposal.objects.get()
    assert p.image_alt == "Dark river path"
    with Image.open(p.image_thumb.path) as thumb:
        assert thumb.size == (480, 320) and not thumb.getexif()
    with Image.open(p.image.path) as full:
        assert not full.getexif()
    assert "IMG_1234" not in p.image.name + p.image_thumb.name
    detail = client.get(r["Location"]).content.decode()
    assert 'alt="Dark river path"' in detail
    listing = client.get(reverse("proposals:list", args=["riverton"])).content.decode()
    assert p.image_thumb.url in listing and 'alt="Dark river path"' in listing


def test_service_refuses_a_picture_without_description(election, north, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    with pytest.raises(ProposalInvalid) as err:
        services.proposal_create(
            actor=UserFactory(),
            election=election,
            title="T",
            description="D",
            pot=north,
            cost=5,
            image=photo(),
        )
    assert "image_alt" in err.value.errors
    assert not list(tmp_path.rglob("*.jpg"))  # nothing written for a refused proposal


def test_garbage_picture_is_a_form_error_not_a_500(client, election, north, category, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    client.force_login(UserFactory())
    junk = SimpleUploadedFile("x.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, content_type="image/png")
    r = client.post(
        reverse("proposals:create", args=["riverton"]),
        {**form(north, category), "image": junk, "image_alt": "x"},
    )
    assert r.status_code == 400 and not Proposal.objects.exists()


def test_transparent_png_thumbnail_keeps_transparency(settings, tmp_path):
    from proposals.images import image_for_storage, thumbnail_for_storage

    buf = io.BytesIO()
    Image.new("RGBA", (300, 300), (0, 0, 0, 0)).save(buf, "PNG")
    stored = image_for_storage(SimpleUploadedFile("a.png", buf.getvalue(), content_type="image/png"))
    thumb = thumbnail_for_storage(stored)
    assert thumb.name.endswith("-thumb.webp")
    with Image.open(io.BytesIO(thumb.read())) as img:
        assert img.mode == "RGBA" and img.size == (480, 320)


# --- maps ------------------------------------------------------------------


def test_the_map_page_lists_what_it_shows_and_filters_like_the_list(client, election, north, east):
    a = ProposalFactory(
        pot=north, title="Lamps <b>", status=ProposalStatus.SUBMITTED, latitude=51.55, longitude=-0.1
    )
    b = ProposalFactory(
        pot=east, title="Garden", status=ProposalStatus.SUBMITTED, latitude=51.53, longitude=-0.09
    )
    c = ProposalFactory(pot=east, title="Library hours", status=ProposalStatus.SUBMITTED)  # no coordinates
    ProposalFactory(pot=east, title="Secret draft", status=ProposalStatus.DRAFT, latitude=1, longitude=1)
    r = client.get(reverse("proposals:map", args=["riverton"]))
    html = r.content.decode()
    assert r.status_code == 200
    markers = json.loads(html.split('id="map-markers" type="application/json">')[1].split("</script>")[0])
    assert {m["code"] for m in markers} == {a.code, b.code}
    assert "Secret draft" not in html and "Library hours" in html  # listed, marked as not on the map
    assert "<b>" not in html.split('id="map-markers"')[1].split("</script>")[0]  # json_script escapes
    assert 'data-tile-url=""' in html and reverse("core:shapes", args=["riverton"]) in html
    r = client.get(reverse("proposals:map", args=["riverton"]), {"pot": "east"})
    markers = json.loads(r.content.decode().split('type="application/json">')[1].split("</script>")[0])
    assert [m["code"] for m in markers] == [b.code]
    assert c.title in r.content.decode() and a.title not in r.content.decode()
    r = client.get(reverse("proposals:map", args=["riverton"]), {"cost_min": "x", "pot": "nowhere"})
    assert r.status_code == 400  # bad filters: a message, never a 500


def test_tile_url_comes_from_the_settings(client, election, settings):
    settings.PB_MAP_TILE_URL = "https://tiles.example.org/{z}/{x}/{y}.png"
    html = client.get(reverse("proposals:map", args=["riverton"])).content.decode()
    assert 'data-tile-url="https://tiles.example.org/{z}/{x}/{y}.png"' in html


def test_funded_filter_after_publication(client, election, north):
    funded = ProposalFactory(pot=north, title="Funded lamps", latitude=51.55, longitude=-0.1)
    ProposalFactory(pot=north, title="Not funded", latitude=51.54, longitude=-0.1)
    hook = lambda e: {funded.code} if e.pk == election.pk else None  # noqa: E731
    selectors.FUNDED_HOOKS.insert(0, hook)
    try:
        html = client.get(reverse("proposals:map", args=["riverton"]), {"funded": "on"}).content.decode()
        assert "Funded lamps" in html and "Not funded" not in html and "Funded projects only" in html
        html = client.get(reverse("proposals:list", args=["riverton"]), {"funded": "on"}).content.decode()
        assert "Funded lamps" in html and "Not funded" not in html
    finally:
        selectors.FUNDED_HOOKS.remove(hook)


def test_tally_reports_funded_codes_only_once_published(election):
    from tally.selectors import funded_codes

    assert funded_codes(election) is None
    assert selectors.funded_codes(election) is None


def test_detail_shows_a_location_map_only_with_coordinates(client, election, north):
    with_pin = ProposalFactory(pot=north, latitude=51.55, longitude=-0.1)
    without = ProposalFactory(pot=north)
    assert (
        'id="proposal-map"'
        in client.get(reverse("proposals:detail", args=["riverton", with_pin.code])).content.decode()
    )
    page = client.get(reverse("proposals:detail", args=["riverton", without.code])).content.decode()
    assert 'id="proposal-map"' not in page and "leaflet.js" not in page


def test_form_has_the_location_picker(client, election, north, category):
    client.force_login(UserFactory())
    html = client.get(reverse("proposals:create", args=["riverton"])).content.decode()
    assert 'data-pick-lat="id_latitude"' in html and 'data-pick-lon="id_longitude"' in html
    assert "vendor/leaflet/leaflet.js" in html and "unpkg" not in html and "cdn" not in html.lower()


# --- curation ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("keep_status", "same_pot", "ok"),
    [
        (ProposalStatus.SUBMITTED, True, True),
        (ProposalStatus.FEASIBLE, True, True),
        (ProposalStatus.NOT_FEASIBLE, True, False),
        (ProposalStatus.MERGED, True, False),
        (ProposalStatus.DRAFT, True, False),
        (ProposalStatus.FEASIBLE, False, False),
        (ProposalStatus.SUBMITTED, False, False),
    ],
)
def test_merge_only_into_a_live_proposal_of_the_same_pot(election, north, east, keep_status, same_pot, ok):
    dup = ProposalFactory(pot=east, status=ProposalStatus.SUBMITTED)
    keep = ProposalFactory(pot=east if same_pot else north, status=keep_status)
    if ok:
        services.proposal_merge(actor=official(), duplicate=dup, keep=keep)
        dup.refresh_from_db()
        assert dup.merged_into == keep
    else:
        with pytest.raises(ProposalInvalid) as err:
            services.proposal_merge(actor=official(), duplicate=dup, keep=keep)
        assert "keep" in err.value.errors
        dup.refresh_from_db()
        assert dup.status == ProposalStatus.SUBMITTED and dup.merged_into is None
        assert not AuditEvent.objects.filter(action="proposal.merge").exists()


def test_merge_form_says_why(client, election, north, east):
    """The demo's case: P011 (Eastfield) into P012 (Northbank, not feasible) used to succeed silently."""
    dup = ProposalFactory(pot=east, code="P011", status=ProposalStatus.SUBMITTED)
    ProposalFactory(pot=north, code="P012", status=ProposalStatus.NOT_FEASIBLE, review_reason="No")
    client.force_login(official())
    r = client.post(reverse("proposals:merge", args=["riverton", dup.code]), {"keep": "p012"})
    assert r.status_code == 400 and "same district" in r.content.decode()
    dup.refresh_from_db()
    assert dup.status == ProposalStatus.SUBMITTED


def test_review_form_preselects_nothing_and_says_decision_once(client, election, north):
    p = ProposalFactory(pot=north, status=ProposalStatus.FEASIBLE)
    client.force_login(official())
    html = client.get(reverse("proposals:review", args=["riverton", p.code])).content.decode()
    assert "checked" not in html.split('id="review-form"')[1].split("</form>")[0]
    assert html.count(">Decision<") == 1
    r = client.post(reverse("proposals:review", args=["riverton", p.code]), {"reason": "x"})
    assert r.status_code == 400  # no decision chosen: nothing saved
    p.refresh_from_db()
    assert p.status == ProposalStatus.FEASIBLE


def test_cost_over_the_pot_budget_is_flagged_to_author_and_reviewer(client, election, north, category):
    author = UserFactory()
    client.force_login(author)
    r = client.post(
        reverse("proposals:create", args=["riverton"]),
        {**form(north, category, cost="150000"), "submit": "1"},
        follow=True,
    )
    html = r.content.decode()
    assert "more than the whole budget of Northbank" in html and 'id="over-budget"' in html
    p = Proposal.objects.get()
    client.force_login(UserFactory())  # another resident: not singled out on the public page
    assert (
        'id="over-budget"'
        not in client.get(reverse("proposals:detail", args=["riverton", p.code])).content.decode()
    )
    client.force_login(official())
    assert (
        'id="over-budget"'
        in client.get(reverse("proposals:review", args=["riverton", p.code])).content.decode()
    )
    within = ProposalFactory(pot=north, code="P901", cost=100_000, status=ProposalStatus.SUBMITTED)
    assert (
        'id="over-budget"'
        not in client.get(reverse("proposals:review", args=["riverton", within.code])).content.decode()
    )
