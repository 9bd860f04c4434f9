"""Maps and pictures in the browser: a resident proposes with a location picked on the map and a photo (mouse
and keyboard), the demo-like district shapes are drawn without any tile server, and axe-core finds no serious
or critical violation on the new pages at 390 and 1280 px."""

import json

import pytest
from PIL import Image
from playwright.sync_api import expect

from pb.core.districts.shapes import pot_shape_set
from pb.core.models import Phase
from proposals.models import Proposal, ProposalStatus
from tests.e2e.a11y import axe_serious
from tests.e2e.journey_helpers import (
    attach_photo,
    district_shapes,
    fill_proposal,
    new_page,
    photo,
    pick_map_centre,
    submit_proposal,
)
from tests.factories import (
    CategoryFactory,
    ElectionFactory,
    PotFactory,
    ProposalFactory,
    UserFactory,
    official,
)

pytestmark = pytest.mark.e2e

SHAPES = district_shapes()


def assert_no_serious_axe_violations(page, label: str) -> None:
    assert axe_serious(page) == [], label


@pytest.fixture
def election(base_url, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.PB_MAP_TILE_URL = ""  # no internet: the shapes alone
    e = ElectionFactory(phase=Phase.PROPOSALS_OPEN, slug="riverton", name="Riverton PB")
    off = official(username="olga")
    for slug, name in (("northbank", "Northbank"), ("old-town", "Old Town")):
        pot = PotFactory(election=e, slug=slug, name=name, budget=200_000)
        pot_shape_set(actor=off, pot=pot, raw=json.dumps(SHAPES[slug]))
    CategoryFactory(election=e, slug="parks", name="Parks")
    ProposalFactory(
        pot=e.pots.get(slug="northbank"),
        title="Lamps on the towpath",
        status=ProposalStatus.SUBMITTED,
        latitude=51.5512,
        longitude=-0.1005,
    )
    return e


def _fill(page):
    fill_proposal(
        page,
        title="Benches by the river",
        description="Six benches with backrests along the river.",
        district="Northbank",
        category="Parks",
        cost="12000",
        location="River walk by the mill",
    )


def test_resident_proposes_with_a_map_location_and_a_photo(page, base_url, login, election, tmp_path):
    UserFactory(username="rosa")
    login(page, "rosa")
    page.goto(f"{base_url}/proposals/riverton/new/")
    _fill(page)
    lat, lon = pick_map_centre(page, shapes=2)  # once the two district outlines are drawn
    assert 51.52 < lat < 51.57 and -0.13 < lon < -0.07  # inside Riverton's districts
    page.get_by_label("Image (optional)").set_input_files(str(photo(tmp_path)))
    page.get_by_role("button", name="Submit for review").click()
    expect(page.locator(".field-error")).to_contain_text("Describe the picture")
    # The coordinates picked on the map survive the form error.
    expect(page.get_by_label("Latitude (optional)")).to_have_value(f"{lat:.6f}")
    attach_photo(page, photo(tmp_path), "An empty river bank")
    submit_proposal(page)
    expect(page.locator("#proposal-map path.leaflet-interactive")).not_to_have_count(0)
    p = Proposal.objects.get(title="Benches by the river")
    assert (float(p.latitude), float(p.longitude)) == (round(lat, 6), round(lon, 6))
    assert p.location == "River walk by the mill" and p.image and p.image_thumb
    assert p.image_alt == "An empty river bank"
    with Image.open(p.image.path) as img:
        assert not img.getexif()


def test_the_location_picker_works_with_the_keyboard(page, base_url, login, election):
    UserFactory(username="kim")
    login(page, "kim")
    page.goto(f"{base_url}/proposals/riverton/new/")
    expect(page.locator("#location-map path.leaflet-interactive")).to_have_count(2)
    page.locator("#location-map").focus()
    page.keyboard.press("ArrowUp")  # pan with the keyboard (Leaflet's keyboard handler)
    button = page.get_by_role("button", name="Put the pin at the centre of the map")
    button.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_label("Latitude (optional)")).not_to_have_value("")
    page.get_by_role("button", name="Remove the pin").press("Enter")
    expect(page.get_by_label("Latitude (optional)")).to_have_value("")
    expect(page.get_by_label("Longitude (optional)")).to_have_value("")


def test_map_page_draws_shapes_and_markers_and_lists_them(page, base_url, election):
    page.goto(f"{base_url}/proposals/riverton/")
    page.get_by_role("link", name="Show on a map").click()
    the_map = page.locator("#proposals-map")
    expect(the_map.locator("path.leaflet-interactive")).to_have_count(3)  # 2 districts + 1 proposal
    expect(the_map.locator("img.leaflet-tile")).to_have_count(0)  # no tile URL: no tile requests
    expect(page.get_by_role("list").filter(has_text="Lamps on the towpath")).to_be_visible()


def test_without_javascript_the_form_and_the_map_page_still_work(page_nojs, base_url, login, election):
    page_nojs.goto(f"{base_url}/proposals/riverton/map/")
    expect(page_nojs.get_by_text("The map needs JavaScript")).to_be_visible()
    expect(page_nojs.get_by_role("link", name="Lamps on the towpath")).to_be_visible()


@pytest.mark.parametrize("width", [390, 1280])
def test_new_pages_have_no_serious_axe_violations(browser, base_url, login, election, width, tmp_path):
    context, page = new_page(browser, viewport={"width": width, "height": 900})
    try:
        UserFactory(username="ana")
        with_picture = ProposalFactory(
            pot=election.pots.get(slug="old-town"),
            title="Picnic tables",
            status=ProposalStatus.SUBMITTED,
            latitude=51.5389,
            longitude=-0.1131,
            image="proposals/x.jpg",
            image_thumb="proposals/thumbs/x-thumb.jpg",
            image_alt="Two picnic tables",
            cost=500_000,  # over the district budget: the warning is on the page too
        )

        checks = [
            ("list", "/proposals/riverton/"),
            ("map", "/proposals/riverton/map/"),
            ("detail", f"/proposals/riverton/{with_picture.code}/"),
        ]
        for label, path in checks:
            page.goto(base_url + path)
            page.wait_for_load_state("networkidle")
            assert_no_serious_axe_violations(page, f"{label} at {width}px")
        login(page, "ana")
        page.goto(f"{base_url}/proposals/riverton/new/")
        page.wait_for_load_state("networkidle")
        assert_no_serious_axe_violations(page, f"form at {width}px")
        page.get_by_role("button", name="Sign out (ana)").click()
        login(page, "olga")
        for label, path in [
            ("district shapes", "/elections/riverton/districts/"),
            ("review", f"/proposals/riverton/{with_picture.code}/review/"),
            ("home", "/"),
        ]:
            page.goto(base_url + path)
            page.wait_for_load_state("networkidle")
            assert_no_serious_axe_violations(page, f"{label} at {width}px")
    finally:
        context.close()
