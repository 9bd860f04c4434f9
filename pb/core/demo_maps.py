"""The demo's district outlines (fixtures/demo/district_shapes.json), so its maps show Riverton's districts
at first run without any tile server."""

import json
from pathlib import Path

from django.conf import settings

from pb.core.districtmaps import pot_shape_set
from pb.core.models import Pot

SHAPES = Path(settings.BASE_DIR) / "fixtures" / "demo" / "district_shapes.json"


def demo_shapes_load(*, actor, slug_prefix: str = "riverton-") -> int:
    """Give every demo district without a shape its outline (through the audited service); returns how
    many were set. Running it again changes nothing."""
    shapes = json.loads(SHAPES.read_text(encoding="utf-8"))
    count = 0
    pots = Pot.objects.filter(
        election__slug__startswith=slug_prefix, shape__isnull=True, slug__in=list(shapes)
    )
    for pot in pots.select_related("election"):
        pot_shape_set(actor=actor, pot=pot, raw=json.dumps(shapes[pot.slug]))
        count += 1
    return count
