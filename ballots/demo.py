"""Demo voter roll and TEST voting codes for the demo election (called by `manage.py demo_load`).

Everything is derived from a fixed seed so the README can list the codes; running it again changes nothing.
These codes are public: never load the demo into a real election's database.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random

from django.db import transaction

from ballots import roll
from ballots.eligibility import age_on
from ballots.models import VoterRollEntry, VotingCode
from pb.core.audit import audit_record
from pb.core.models import Election

DEMO_SLUG = "riverton-2026"
DEMO_SEED = "pb-demo-riverton-2026"
VOTERS = 50
CODES = 10  # voters RIV-0001 .. RIV-0010 get a code
# Two residents who identify by roll match (reference + date of birth), and one too young to vote.
ROLL_MATCH = [("RIV-0011", dt.date(1985, 4, 12)), ("RIV-0012", dt.date(2001, 9, 30))]
UNDERAGE = ("RIV-0050", dt.date(2011, 7, 1))  # 14 on 1 June 2026: shows the refusal message


def demo_code(i: int) -> str:
    """The i-th demo code (1-based): 60 bits of SHA-256 of the fixed seed, in the voting-code alphabet."""
    digest = hashlib.sha256(f"{DEMO_SEED}:code:{i}".encode()).digest()
    return roll.code_from_int(int.from_bytes(digest[:8], "big") >> 4)


def _demo_people(election: Election) -> list[tuple[str, dt.date, object]]:
    rnd = random.Random(DEMO_SEED)  # noqa: S311 (public demo data, not a secret)
    districts = list(election.pots.filter(is_citywide=False).order_by("name")) or list(election.pots.all())
    fixed = dict([*ROLL_MATCH, UNDERAGE])
    people = []
    for i in range(1, VOTERS + 1):
        ref = f"RIV-{i:04d}"
        dob = fixed.get(ref) or dt.date(rnd.randint(1940, 2006), rnd.randint(1, 12), rnd.randint(1, 28))
        people.append((ref, dob, districts[(i - 1) % len(districts)]))
    return people


@transaction.atomic
def load_demo(stdout=None) -> dict:
    """Create the demo roll (50 voters across the districts) and 10 test codes; idempotent."""
    election = Election.objects.filter(slug=DEMO_SLUG).first() or Election.objects.order_by("pk").first()
    if election is None:
        return {"codes": [], "roll_match": []}
    existing = set(VoterRollEntry.objects.filter(election=election).values_list("ref_hash", flat=True))
    added = 0
    voters = {}
    for ref, dob, district in _demo_people(election):
        rh = roll.ref_hash(ref)
        if rh not in existing:
            eligible = True
            if election.min_age and election.age_reference_date:
                eligible = age_on(dob, election.age_reference_date) >= election.min_age
            VoterRollEntry.objects.create(
                election=election,
                ref_hash=rh,
                ref_dob_hash=roll.ref_dob_hash(ref, dob.isoformat()),
                birth_year=dob.year,
                age_eligible=eligible,
                district=district,
            )
            added += 1
        voters[ref] = rh
    by_hash = {
        v.ref_hash: v for v in VoterRollEntry.objects.filter(election=election, ref_hash__in=voters.values())
    }
    codes = []
    new_codes = 0
    for i in range(1, CODES + 1):
        code = demo_code(i)
        digest = roll.code_hash(roll.normalize_code(code))
        voter = by_hash[voters[f"RIV-{i:04d}"]]
        if not VotingCode.objects.filter(code_hash=digest).exists():
            VotingCode.objects.create(election=election, voter=voter, code_hash=digest, batch="demo")
            new_codes += 1
        codes.append((code, voter.district.name))
    if added or new_codes:
        audit_record(
            actor="demo_load",
            action="roll.import",
            election=election,
            data={"demo": True, "imported": added, "codes": new_codes},
        )
    result = {
        "election": election.slug,
        "codes": codes,
        "roll_match": [(ref, dob.isoformat()) for ref, dob in ROLL_MATCH],
        "underage": (UNDERAGE[0], UNDERAGE[1].isoformat()),
    }
    if stdout is not None:
        stdout.write(f"Voter roll of {election.name}: {VOTERS} demo voters ({added} added now).")
        stdout.write("  TEST voting codes (public: demo only):")
        for code, district in codes:
            stdout.write(f"    {code}  ({district})")
        stdout.write("  Roll match (voter reference + date of birth):")
        for ref, dob in result["roll_match"]:
            stdout.write(f"    {ref}  {dob}")
        stdout.write(
            f"  Too young to vote (to see the refusal): {result['underage'][0]}  {result['underage'][1]}"
        )
    return result
