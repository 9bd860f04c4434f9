"""District shapes for the maps: an official uploads a GeoJSON file per pot; the maps draw them.

What is stored is rebuilt from the upload, never the upload itself: a FeatureCollection of Polygon and
MultiPolygon features with only a `name` property, coordinates rounded to 6 decimals (about 10 cm). Anything
else (points, lines, foreign members, NaN, a ring that is not closed, a coordinate off the globe) is refused
with a message an official can act on, never a server error.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from pb.core.audit import audit_record
from pb.core.exceptions import DomainError
from pb.core.models import Election, Pot
from pb.core.permissions import require

MAX_FEATURES = 200
MAX_POSITIONS = 50_000  # vertices in one district: a detailed city outline has a few thousand


class ShapeInvalid(DomainError):
    pass


def max_bytes() -> int:
    return getattr(settings, "PB_DISTRICT_SHAPE_MAX_BYTES", 2 * 1024 * 1024)


def _reject_constant(name: str):
    raise ShapeInvalid(
        _("The file contains “%(value)s”, which is not a number GeoJSON allows.") % {"value": name}
    )


class _Counter:
    def __init__(self) -> None:
        self.positions = 0


def _position(value: Any, counter: _Counter) -> list[float]:
    if not isinstance(value, list) or len(value) not in (2, 3):
        raise ShapeInvalid(_("A coordinate must be a pair of numbers: [longitude, latitude]."))
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        raise ShapeInvalid(_("A coordinate must be a pair of numbers: [longitude, latitude]."))
    lon, lat = float(value[0]), float(value[1])
    if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
        raise ShapeInvalid(
            _("A coordinate is off the globe: longitude must be within ±180 and latitude within ±90.")
        )
    counter.positions += 1
    if counter.positions > MAX_POSITIONS:
        raise ShapeInvalid(
            _("The shape has more than %(n)d points: simplify it before uploading.") % {"n": MAX_POSITIONS}
        )
    return [round(lon, 6), round(lat, 6)]


def _polygon(rings: Any, counter: _Counter) -> list:
    if not isinstance(rings, list) or not rings:
        raise ShapeInvalid(_("A polygon must be a list of rings (the outline, then any holes)."))
    out = []
    for ring in rings:
        if not isinstance(ring, list) or len(ring) < 4:
            raise ShapeInvalid(_("Each ring of a polygon needs at least four points."))
        points = [_position(p, counter) for p in ring]
        if points[0] != points[-1]:
            raise ShapeInvalid(_("Each ring of a polygon must end at the point where it starts."))
        out.append(points)
    return out


def _geometry(geometry: Any, counter: _Counter) -> dict:
    if not isinstance(geometry, dict):
        raise ShapeInvalid(_("A feature has no geometry."))
    kind = geometry.get("type")
    if kind == "Polygon":
        return {"type": "Polygon", "coordinates": _polygon(geometry.get("coordinates"), counter)}
    if kind == "MultiPolygon":
        polygons = geometry.get("coordinates")
        if not isinstance(polygons, list) or not polygons:
            raise ShapeInvalid(_("A MultiPolygon must be a list of polygons."))
        return {"type": "MultiPolygon", "coordinates": [_polygon(p, counter) for p in polygons]}
    raise ShapeInvalid(
        _("Only polygons can outline a district; this file has a “%(kind)s”.") % {"kind": str(kind)[:40]}
    )


def shape_parse(raw: bytes | str) -> dict:
    """Validate an uploaded GeoJSON document and return the clean FeatureCollection to store."""
    if isinstance(raw, str):
        raw = raw.encode("utf-8")
    if len(raw) > max_bytes():
        raise ShapeInvalid(
            _("The file is larger than %(mb)s MB: simplify the shape before uploading.")
            % {"mb": round(max_bytes() / (1024 * 1024), 1)}
        )
    try:
        doc = json.loads(raw.decode("utf-8-sig"), parse_constant=_reject_constant)
    except ShapeInvalid:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ShapeInvalid(_("This is not a GeoJSON file (it is not valid JSON).")) from exc
    if not isinstance(doc, dict):
        raise ShapeInvalid(_("This is not a GeoJSON file: it must be one object with a “type”."))
    kind = doc.get("type")
    if kind == "FeatureCollection":
        features = doc.get("features")
        if not isinstance(features, list):
            raise ShapeInvalid(_("A FeatureCollection must have a list of features."))
    elif kind == "Feature":
        features = [doc]
    elif kind in ("Polygon", "MultiPolygon"):
        features = [{"type": "Feature", "geometry": doc, "properties": {}}]
    else:
        raise ShapeInvalid(
            _("Only polygons can outline a district; this file has a “%(kind)s”.") % {"kind": str(kind)[:40]}
        )
    if not features:
        raise ShapeInvalid(_("The file has no shapes."))
    if len(features) > MAX_FEATURES:
        raise ShapeInvalid(_("The file has more than %(n)d shapes.") % {"n": MAX_FEATURES})
    counter = _Counter()
    clean = []
    for feature in features:
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            raise ShapeInvalid(_("Every item of a FeatureCollection must be a Feature."))
        props = feature.get("properties") if isinstance(feature.get("properties"), dict) else {}
        name = props.get("name")
        clean.append(
            {
                "type": "Feature",
                "geometry": _geometry(feature.get("geometry"), counter),
                "properties": {"name": name[:120]} if isinstance(name, str) else {},
            }
        )
    return {"type": "FeatureCollection", "features": clean}


@transaction.atomic
def pot_shape_set(*, actor, pot: Pot, raw: bytes | str | None) -> Pot:
    """Store (or, with raw=None, remove) the outline of a district. Officials only, in any phase."""
    pot = Pot.objects.select_for_update().select_related("election").get(pk=pot.pk)
    require(actor, "election.manage", pot.election)
    shape = None if raw is None else shape_parse(raw)
    pot.shape = shape
    pot.save(update_fields=["shape"])
    digest = hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest() if shape else ""
    audit_record(
        actor=actor,
        action="pot.shape",
        election=pot.election,
        obj=pot,
        data={"pot": pot.slug, "features": len(shape["features"]) if shape else 0, "sha256": digest},
    )
    return pot


def election_shapes(election: Election) -> dict:
    """Every district's outline as one FeatureCollection; each feature says which pot it outlines."""
    features = []
    for pot in election.pots.filter(shape__isnull=False).order_by("is_citywide", "name"):
        for feature in (pot.shape or {}).get("features", []):
            props = {
                "pot": pot.slug,
                "name": pot.name,
                "citywide": pot.is_citywide,
                "area": feature.get("properties", {}).get("name", ""),
            }
            features.append({"type": "Feature", "geometry": feature["geometry"], "properties": props})
    return {"type": "FeatureCollection", "features": features}
