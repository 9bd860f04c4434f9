"""Maps and pictures in the browser: a resident proposes with a location picked on the map and a photo (mouse
and keyboard), the demo-like district shapes are drawn without any tile server, and axe-core finds no serious
or critical violation on the new pages at 390 and 1280 px."""

import io
import json
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import expect

from pb.core.districts.shapes import pot_shape_set
from pb.core.models import Phase
from proposals.models import Proposal, ProposalStatus
from tests.e2e.a11y import axe_serious
from tests.factories import (
    CategoryFactory,
    ElectionFactory,
    PotFactory,
    ProposalFactory,
    UserFactory,
    official,
)

pytestmark = pytest.mark.e2e

SHAPES = json.loads((Path(__file__).resolve().parents[2] / "fixtures/demo/district_shapes.json").read_text())


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


def _photo(tmp_path) -> Path:
    path = tmp_path / "IMG_0001.jpg"
    exif = Image.Exif()
    exif[0x8825] = {2: (51.0, 30.0, 0.0)}
    buf = io.BytesIO()
    Image.new("RGB", (800, 600), "orange").save(buf, "JPEG", exif=exif)
    path.write_bytes(buf.getvalue())
    return path


def _fill(page):
    page.get_by_label("Title").fill("Benches by the river")
    page.get_by_label("Description").fill("Six benches with backrests along the river.")
    page.get_by_label("District").select_option(label="Northbank")
    page.get_by_label("Category").select_option(label="Parks")
    page.get_by_label("Estimated cost").fill("12000")
    page.get_by_label("Location (address or place)").fill("River walk by the mill")


def test_resident_proposes_with_a_map_location_and_a_photo(page, base_url, login, election, tmp_path):
    UserFactory(username="rosa")
    login(page, "rosa")
    page.goto(f"{base_url}/proposals/riverton/new/")
    _fill(page)
    the_map = page.locator("#location-map")
    expect(the_map.locator("path.leaflet-interactive")).to_have_count(2)  # the two district outlines
    the_map.scroll_into_view_if_needed()
    box = the_map.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    expect(page.get_by_label("Latitude (optional)")).not_to_have_value("")
    lat = float(page.get_by_label("Latitude (optional)").input_value())
    lon = float(page.get_by_label("Longitude (optional)").input_value())
    assert 51.52 < lat < 51.57 and -0.13 < lon < -0.07  # inside Riverton's districts
    expect(page.locator("#location-map-status")).to_contain_text("Pin placed at")
    page.get_by_label("Image (optional)").set_input_files(str(_photo(tmp_path)))
    page.get_by_role("button", name="Submit for review").click()
    expect(page.locator(".field-error")).to_contain_text("Describe the picture")
    # The coordinates picked on the map survive the form error.
    expect(page.get_by_label("Latitude (optional)")).to_have_value(f"{lat:.6f}")
    page.get_by_label("Image (optional)").set_input_files(str(_photo(tmp_path)))
    page.get_by_label("What the picture shows").fill("An empty river bank")
    page.get_by_role("button", name="Submit for review").click()
    expect(page.locator("#proposal-status")).to_have_text("Submitted")
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
def test_new_pages_have_no_serious_axe_violations(browser, base_url, election, width, tmp_path):
    from tests.e2e.conftest import PASSWORD

    context = browser.new_context(locale="en-GB", viewport={"width": width, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
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

        def sign_in(username):
            page.goto(f"{base_url}/accounts/login/")
            page.get_by_label("Username").fill(username)
            page.get_by_label("Password").fill(PASSWORD)
            page.locator("main").get_by_role("button", name="Sign in").click()
            expect(page.get_by_role("button", name=f"Sign out ({username})")).to_be_visible()

        checks = [
            ("list", "/proposals/riverton/"),
            ("map", "/proposals/riverton/map/"),
            ("detail", f"/proposals/riverton/{with_picture.code}/"),
        ]
        for label, path in checks:
            page.goto(base_url + path)
            page.wait_for_load_state("networkidle")
            assert_no_serious_axe_violations(page, f"{label} at {width}px")
        sign_in("ana")
        page.goto(f"{base_url}/proposals/riverton/new/")
        page.wait_for_load_state("networkidle")
        assert_no_serious_axe_violations(page, f"form at {width}px")
        page.get_by_role("button", name="Sign out (ana)").click()
        sign_in("olga")
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
