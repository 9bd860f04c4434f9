"""The demo's maps at first run: Riverton's district outlines (fixtures/demo/district_shapes.json, drawn
without any tile server) and the folded search text of the proposals the demo writes from its fixtures."""

import json
from pathlib import Path

from django.conf import settings

from pb.core.districts.shapes import pot_shape_set
from pb.core.models import Pot
from proposals.models import Proposal
from proposals.search import search_text_refresh

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


def demo_maps_load(*, actor, slug_prefix: str = "riverton-") -> None:
    demo_shapes_load(actor=actor, slug_prefix=slug_prefix)
    search_text_refresh(Proposal.objects.filter(election__slug__startswith=slug_prefix, search_text=""))
