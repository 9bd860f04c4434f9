"""Load the Riverton demo election from fixtures/demo_riverton.json (idempotent).

Creates the election with its pots, categories and proposals if it does not exist yet (an existing
election is left as it is: its phase and proposals may have moved on and are audited), makes sure the
demo accounts exist with their documented passwords, then lets the voting app add its part
(ballots.demo: voter roll and test codes) when that app provides it.
"""

import importlib
import json
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction

from pb.core.audit import audit_record
from pb.core.models import Category, Election, Pot, Role
from proposals.models import Proposal

FIXTURE = Path(settings.BASE_DIR) / "fixtures" / "demo_riverton.json"

# Documented in the README; created with set_password (no hashes in fixtures).
DEMO_USERS = [
    ("official", "official-demo-2026", Role.OFFICIAL),
    ("council", "council-demo-2026", Role.COUNCIL),
    ("resident", "resident-demo-2026", None),
]


class Command(BaseCommand):
    help = "Load the Riverton demo election, its proposals and the demo accounts (safe to run again)."

    def add_arguments(self, parser):
        parser.add_argument("--fixture", default=str(FIXTURE), help="demo JSON file")

    def handle(self, *args, **options):
        data = json.loads(Path(options["fixture"]).read_text(encoding="utf-8"))
        with transaction.atomic():
            users = self._users()
            election, created = self._election(data, users)
        if created:
            self.stdout.write(
                f"Loaded {election.name}: {election.pots.count()} pots, "
                f"{election.proposals.count()} proposals, phase {election.phase}."
            )
        else:
            self.stdout.write(f"{election.name} is already loaded (left unchanged).")
        for username, password, _role in DEMO_USERS:
            self.stdout.write(f"  account {username} / {password}")
        try:
            ballots_demo = importlib.import_module("ballots.demo")
        except ModuleNotFoundError as exc:
            if exc.name != "ballots.demo":
                raise
        else:
            ballots_demo.load_demo(stdout=self.stdout)

    def _users(self) -> dict:
        users = {}
        for username, password, role in DEMO_USERS:
            user, _ = get_user_model().objects.get_or_create(username=username)
            user.set_password(password)
            user.save()
            if role:
                user.groups.add(Group.objects.get_or_create(name=role)[0])
            users[username] = user
        return users

    def _election(self, data: dict, users: dict) -> tuple[Election, bool]:
        spec = data["election"]
        existing = Election.objects.filter(slug=spec["slug"]).first()
        if existing is not None:
            return existing, False
        election = Election.objects.create(**spec)
        pots = {p["slug"]: Pot.objects.create(election=election, **p) for p in data["pots"]}
        cats = {c["slug"]: Category.objects.create(election=election, **c) for c in data["categories"]}
        merges = []
        for row in data["proposals"]:
            row = dict(row)
            merged_into = row.pop("merged_into", None)
            for key in ("latitude", "longitude"):
                if key in row:
                    row[key] = Decimal(row[key])
            p = Proposal.objects.create(
                election=election, pot=pots[row.pop("pot")], category=cats[row.pop("category")], **row
            )
            if merged_into:
                merges.append((p, merged_into))
        for p, code in merges:
            p.merged_into = Proposal.objects.get(election=election, code=code)
            p.save(update_fields=["merged_into"])
        from proposals.services import next_code

        for row in data.get("resident_proposals", []):
            row = dict(row)
            Proposal.objects.create(
                election=election,
                author=users["resident"],
                code=next_code(election),
                pot=pots[row.pop("pot")],
                category=cats[row.pop("category")],
                **row,
            )
        audit_record(
            actor="demo_load",
            action="demo.load",
            election=election,
            obj=election,
            data={
                "fixture": Path(FIXTURE).name,
                "phase": election.phase,
                "proposals": election.proposals.count(),
            },
        )
        return election, True
