"""District shapes: an official's GeoJSON upload per pot, validated; the public GeoJSON the maps draw."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from pb.core.districts.shapes import ShapeInvalid, pot_shape_set, shape_parse
from pb.core.exceptions import PermissionDenied
from pb.core.models import AuditEvent, Phase
from tests.factories import ElectionFactory, PotFactory, UserFactory, official

pytestmark = pytest.mark.django_db

SQUARE = [[[-0.12, 51.53], [-0.10, 51.53], [-0.10, 51.55], [-0.12, 51.55], [-0.12, 51.53]]]


def polygon(coords=SQUARE, **props):
    return {"type": "Feature", "properties": props, "geometry": {"type": "Polygon", "coordinates": coords}}


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def pot():
    return PotFactory(
        election=ElectionFactory(phase=Phase.REVIEW, slug="riverton"), slug="north", name="North"
    )


def test_a_feature_collection_is_stored_clean():
    doc = {
        "type": "FeatureCollection",
        "crs": {"type": "name"},
        "features": [polygon(name="North", secret="<script>x</script>"), polygon()],
    }
    clean = shape_parse(json.dumps(doc))
    assert clean == {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": SQUARE},
                "properties": {"name": "North"},
            },
            {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": SQUARE}, "properties": {}},
        ],
    }


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\xff\xfe\x00garbage",
        b"not json",
        b"[]",
        b"42",
        b'{"type": "Point", "coordinates": [0, 0]}',
        b'{"type": "FeatureCollection"}',
        b'{"type": "FeatureCollection", "features": []}',
        b'{"type": "FeatureCollection", "features": [42]}',
        b'{"type": "Feature", "geometry": null}',
        b'{"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[0, 0], [1, 1]]}}',
        b'{"type": "Polygon", "coordinates": []}',
        b'{"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1]]]}',  # too few points
        b'{"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]}',  # not closed
        b'{"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 91], [0, 0]]]}',  # off the globe
        b'{"type": "Polygon", "coordinates": [[[0, 0], [181, 0], [1, 1], [0, 0]]]}',
        b'{"type": "Polygon", "coordinates": [[[0, 0], [NaN, 0], [1, 1], [0, 0]]]}',
        b'{"type": "Polygon", "coordinates": [[[0, 0], [Infinity, 0], [1, 1], [0, 0]]]}',
        b'{"type": "Polygon", "coordinates": [[[0, 0], [true, 0], [1, 1], [0, 0]]]}',
        b'{"type": "Polygon", "coordinates": [[[0, 0], ["1", 0], [1, 1], [0, 0]]]}',
        b'{"type": "Polygon", "coordinates": [[[0], [1, 0], [1, 1], [0]]]}',
        b'{"type": "MultiPolygon", "coordinates": [[]]}',
        b'{"type": "Polygon", "coordinates": [[[0, 0], [1e400, 0], [1, 1], [0, 0]]]}',
        b"[" * 100_000 + b"]" * 100_000,  # deep nesting: RecursionError must not escape
    ],
)
def test_garbage_is_refused_with_a_message(raw):
    with pytest.raises(ShapeInvalid) as err:
        shape_parse(raw)
    assert err.value.message


def test_size_and_point_limits(settings):
    settings.PB_DISTRICT_SHAPE_MAX_BYTES = 1000
    big = json.dumps(polygon([[[0, 0], *([[0.1, 0.1]] * 100), [0, 0]]]))
    with pytest.raises(ShapeInvalid, match="larger than"):
        shape_parse(big)
    settings.PB_DISTRICT_SHAPE_MAX_BYTES = 10 * 1024 * 1024
    many = json.dumps(polygon([[[0, 0], *([[0.1, 0.1]] * 60_000), [0, 0]]]))
    with pytest.raises(ShapeInvalid, match="more than"):
        shape_parse(many)


def test_only_officials_set_shapes_and_it_is_audited(pot):
    with pytest.raises(PermissionDenied):
        pot_shape_set(actor=UserFactory(), pot=pot, raw=json.dumps(polygon()))
    pot.refresh_from_db()
    assert pot.shape is None
    pot_shape_set(actor=official(), pot=pot, raw=json.dumps(polygon()))
    pot.refresh_from_db()
    assert pot.shape["features"][0]["geometry"]["type"] == "Polygon"
    event = AuditEvent.objects.get(action="pot.shape")
    assert event.data["pot"] == "north" and len(event.data["sha256"]) == 64
    pot_shape_set(actor=official(username="o2"), pot=pot, raw=None)
    pot.refresh_from_db()
    assert pot.shape is None


def test_upload_page(client, pot):
    url = reverse("core:districts", args=["riverton"])
    client.force_login(UserFactory())
    assert client.get(url).status_code == 403
    client.force_login(official())
    assert client.get(url).status_code == 200
    bad = SimpleUploadedFile("north.geojson", b'{"type": "Point", "coordinates": [0, 0]}')
    r = client.post(url, {"pot": "north", "shape": bad})
    assert r.status_code == 400 and "Only polygons can outline a district" in r.content.decode()
    r = client.post(url, {"pot": "north"})
    assert r.status_code == 400 and "Choose a GeoJSON file" in r.content.decode()
    r = client.post(url, {"pot": "nowhere", "shape": bad})
    assert r.status_code == 200  # a message, nothing stored
    good = SimpleUploadedFile("north.geojson", json.dumps(polygon(name="N")).encode())
    assert client.post(url, {"pot": "north", "shape": good}).status_code == 302
    pot.refresh_from_db()
    assert pot.shape["features"][0]["properties"] == {"name": "N"}
    geo = client.get(reverse("core:shapes", args=["riverton"]))
    assert geo.status_code == 200 and geo["Content-Type"] == "application/geo+json"
    feature = geo.json()["features"][0]
    assert feature["properties"]["pot"] == "north" and feature["geometry"]["coordinates"] == SQUARE
    assert client.post(url, {"pot": "north", "remove": "1"}).status_code == 302
    assert client.get(reverse("core:shapes", args=["riverton"])).json()["features"] == []


def test_an_oversized_upload_is_refused_without_reading_it_all(client, pot, settings):
    settings.PB_DISTRICT_SHAPE_MAX_BYTES = 2000
    client.force_login(official())
    blob = SimpleUploadedFile("big.geojson", b" " * 5000 + json.dumps(polygon()).encode())
    r = client.post(reverse("core:districts", args=["riverton"]), {"pot": "north", "shape": blob})
    assert r.status_code == 400 and "larger than" in r.content.decode()


def test_demo_shapes_cover_the_demo_districts(pot):
    from proposals.demo_maps import demo_shapes_load

    northbank = PotFactory(election=pot.election, slug="northbank", name="Northbank")
    assert demo_shapes_load(actor=official(), slug_prefix="riverton") == 1  # "north" is not a demo district
    assert demo_shapes_load(actor=official(username="again"), slug_prefix="riverton") == 0  # idempotent
    northbank.refresh_from_db()
    assert northbank.shape["features"][0]["properties"]["name"] == "Northbank"
