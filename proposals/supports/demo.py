"""The demo's election in the supports phase (riverton-youth-2027, called by `manage.py demo_load`): proposals
by the demo's residents, the phase's rules set by an official, supports already given, so the counts and the
rules show at first run. The demo resident supports one proposal and can support two more."""

from __future__ import annotations

import json
from pathlib import Path

from django.db import transaction

from pb.core.models import Category, Election, Phase, Pot
from pb.core.services import election_advance
from proposals import services as proposals
from proposals.supports.services import election_supports_configure, proposal_support

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "demo" / "riverton-youth-2027.json"


def load_supports_demo(*, official, users: dict, create_election) -> tuple[Election, bool]:
    """`create_election(data, fixture)`: the demo loader's way of creating an election with its pots and
    categories (officials use the admin for that; no service exists). Returns (election, created now)."""
    data = json.loads(FIXTURE.read_text(encoding="utf-8"))
    existing = Election.objects.filter(slug=data["election"]["slug"]).first()
    if existing is not None:
        return existing, False
    with transaction.atomic():
        election = create_election(data, FIXTURE)
        election = election_advance(actor=official, election=election, to_phase=Phase.PROPOSALS_OPEN)
        pots = {p.slug: p for p in Pot.objects.filter(election=election)}
        cats = {c.slug: c for c in Category.objects.filter(election=election)}
        rows = []
        for row in data["proposals"]:
            row = dict(row)
            supporters = row.pop("supporters")
            proposal = proposals.proposal_create(
                actor=users[row.pop("author")],
                election=election,
                pot=pots[row.pop("pot")],
                category=cats[row.pop("category")],
                submit=True,
                **row,
            )
            rows.append((proposal, supporters))
        election_supports_configure(actor=official, election=election, enabled=True, **data["supports"])
        election.refresh_from_db()
        election = election_advance(actor=official, election=election, to_phase=Phase.SUPPORTS)
        for proposal, supporters in rows:
            for username in supporters:
                proposal_support(actor=users[username], proposal=proposal)
    return election, True
