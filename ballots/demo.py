"""Demo voter rolls, TEST voting codes and simulated voters (called by `manage.py demo_load`).

Everything is derived from fixed seeds so the README can list the codes; running it again changes nothing.
Rolls are imported through `roll_import` (a CSV written to a temporary folder), ballots are cast through
`ballot_cast` and paper ballots entered twice through the paper services, exactly as officials and voters
would. These codes are public: never load the demo into a real election's database.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import random
import tempfile
from pathlib import Path

from django.db import transaction

from ballots.casting import services as casting
from ballots.casting.validation import RawBallot
from ballots.models import RollSnapshot, VoterRollEntry, VotingCode
from ballots.roll import entries as roll
from ballots.roll.eligibility import eligible_pots
from ballots.roll.services import roll_import
from pb.core.audit import audit_record
from pb.core.models import BallotType, Election, Pot
from proposals.models import ProposalStatus

DEMO_SLUG = "riverton-2026"
DEMO_SEED = "pb-demo-riverton-2026"
VOTERS = 50
CODES = 10  # voters RIV-0001 .. RIV-0010 get a code
# Two residents who identify by roll match (reference + date of birth), and one too young to vote.
ROLL_MATCH = [("RIV-0011", dt.date(1985, 4, 12)), ("RIV-0012", dt.date(2001, 9, 30))]
UNDERAGE = ("RIV-0050", dt.date(2011, 7, 1))  # 14 on 1 June 2026: shows the refusal message

PAST_SEED = "pb-demo-riverton-2025"
PAST_VOTERS = 300


def demo_code(i: int) -> str:
    """The i-th demo code (1-based): 60 bits of SHA-256 of the fixed seed, in the voting-code alphabet."""
    digest = hashlib.sha256(f"{DEMO_SEED}:code:{i}".encode()).digest()
    return roll.code_from_int(int.from_bytes(digest[:8], "big") >> 4)


def _districts(election: Election) -> list[Pot]:
    return list(election.pots.filter(is_citywide=False).order_by("name")) or list(election.pots.all())


def _demo_people(election: Election) -> list[tuple[str, dt.date, Pot]]:
    rnd = random.Random(DEMO_SEED)  # noqa: S311 (public demo data, not a secret)
    districts = _districts(election)
    fixed = dict([*ROLL_MATCH, UNDERAGE])
    people = []
    for i in range(1, VOTERS + 1):
        ref = f"RIV-{i:04d}"
        dob = fixed.get(ref) or dt.date(rnd.randint(1940, 2006), rnd.randint(1, 12), rnd.randint(1, 28))
        people.append((ref, dob, districts[(i - 1) % len(districts)]))
    return people


def import_people(*, actor, election: Election, people: list[tuple[str, dt.date, Pot]]) -> int:
    """Import (reference, date of birth, district) rows through roll_import, as an official uploading a CSV
    would. Does nothing once the roll has entries or is frozen. Returns the number of voters imported."""
    if RollSnapshot.objects.filter(election=election).exists():
        return 0
    if VoterRollEntry.objects.filter(election=election).exists():
        return 0
    with tempfile.TemporaryDirectory(prefix="pb-demo-roll-") as tmp:
        path = Path(tmp) / f"roll-{election.slug}.csv"
        with path.open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["reference", "date_of_birth", "district"])
            w.writerows((ref, dob.isoformat(), district.slug) for ref, dob, district in people)
        report = roll_import(actor=actor, election=election, path=path)
    if report.error_count:  # the demo data is ours: an error here is a bug in this module
        raise RuntimeError(f"demo roll rejected: {report.errors[:3]}")
    return report.imported


@transaction.atomic
def load_demo(stdout=None, *, actor=None) -> dict:
    """The riverton-2026 roll (50 voters across the districts, imported while the roll is open) and its 10
    TEST codes (created with fixed plaintexts, which codes_generate cannot do); idempotent."""
    election = Election.objects.filter(slug=DEMO_SLUG).first()
    if election is None:
        return {"codes": [], "roll_match": []}
    if actor is None:
        from django.contrib.auth import get_user_model

        actor = get_user_model().objects.get(username="official")
    added = import_people(actor=actor, election=election, people=_demo_people(election))
    voters = {
        v.ref_hash: v
        for v in VoterRollEntry.objects.filter(election=election).select_related("district")
        if v.ref_hash
    }
    codes = []
    new_codes = 0
    for i in range(1, CODES + 1):
        code = demo_code(i)
        digest = roll.code_hash(roll.normalize_code(code))
        voter = voters[roll.ref_hash(f"RIV-{i:04d}")]
        if not VotingCode.objects.filter(code_hash=digest).exists():
            VotingCode.objects.create(election=election, voter=voter, code_hash=digest, batch="demo")
            new_codes += 1
        codes.append((code, voter.district.name))
    if new_codes:
        audit_record(
            actor=actor,
            action="codes.generate",
            election=election,
            data={"demo": True, "batch": "demo", "count": new_codes, "district": "", "by_reference": True},
        )
    result = {
        "election": election.slug,
        "imported": added,
        "codes": codes,
        "roll_match": [(ref, dob.isoformat()) for ref, dob in ROLL_MATCH],
        "underage": (UNDERAGE[0], UNDERAGE[1].isoformat()),
    }
    if stdout is not None:
        stdout.write(f"  voter roll: {VOTERS} demo voters ({added} imported now)")
    return result


# --- The past election: a roll of 300, ballots cast online and on paper ---------------------------------


def past_people(election: Election) -> list[tuple[str, dt.date, Pot]]:
    rnd = random.Random(PAST_SEED)  # noqa: S311
    districts = _districts(election)
    return [
        (
            f"RIV25-{i:04d}",
            dt.date(rnd.randint(1938, 2010), rnd.randint(1, 12), rnd.randint(1, 28)),
            districts[rnd.randrange(len(districts))],
        )
        for i in range(1, PAST_VOTERS + 1)
    ]


def _projects(pot: Pot) -> list:
    return list(pot.proposals.filter(status=ProposalStatus.FEASIBLE).order_by("code"))


def simulated_choice(rnd: random.Random, pot: Pot, projects: list, appeal: dict[str, float]) -> list[str]:
    """A plausible ballot: each project is picked with its appeal, within the pot's rules (budget, maximum
    number of projects); never empty."""
    order = projects[:]
    rnd.shuffle(order)
    limit = pot.max_selections or len(order)
    chosen, spent = [], 0
    for p in order:
        if len(chosen) >= limit:
            break
        fits = pot.ballot_type != BallotType.KNAPSACK or spent + p.final_cost <= pot.budget
        if fits and rnd.random() < appeal.get(p.code, 0.3):
            chosen.append(p.code)
            spent += p.final_cost
    if not chosen:
        chosen = [max(order, key=lambda p: appeal.get(p.code, 0.3) + rnd.random() * 0.3).code]
    return chosen


def cast_past_votes(
    *, election: Election, official, appeal: dict[str, float], paper_voters: int = 12, turnout: float = 0.55
) -> dict:
    """Cast ballots for about `turnout` of the age-eligible roll through ballot_cast (citywide and own
    district), and mark `paper_voters` more as having taken a citywide paper ballot at the town hall.
    Returns {"online": n, "receipts": [two receipt codes], "paper": [(voter, lines)]}."""
    from ballots.ballotbox.sealing import ballots_seal_pending

    rnd = random.Random(PAST_SEED + ":votes")  # noqa: S311
    pots = {p.pk: p for p in election.pots.all()}
    projects = {pk: _projects(p) for pk, p in pots.items()}
    voters = list(VoterRollEntry.objects.filter(election=election, age_eligible=True).order_by("ref_hash"))
    paper, online = voters[:paper_voters], voters[paper_voters:]
    receipts, cast = [], 0
    for voter in online:
        if rnd.random() > turnout:
            continue
        for pot in eligible_pots(voter):
            if not pot.is_citywide and rnd.random() < 0.08:
                continue  # some vote only citywide
            chosen = simulated_choice(rnd, pot, projects[pot.pk], appeal)
            result = casting.ballot_cast(
                actor=None, election=election, pot=pot, voter=voter, raw=RawBallot.of((c, "") for c in chosen)
            )
            # ballot_cast seals after commit; inside the demo's one transaction, seal as we go.
            ballots_seal_pending(election_id=election.pk)
            cast += 1
            if len(receipts) < 2:
                receipts.append(result.receipt_code)
    citywide = next(p for p in pots.values() if p.is_citywide)
    lines = []
    for voter in paper:
        casting.paper_voter_mark(
            actor=official, election=election, voter=voter, booth="Town hall", pots=[citywide]
        )
        lines.append(" ".join(simulated_choice(rnd, citywide, projects[citywide.pk], appeal)))
    return {"online": cast, "receipts": receipts, "citywide": citywide, "paper_lines": lines}


def enter_paper(*, election: Election, pot: Pot, lines: list[str], first, second) -> int:
    """The town hall's paper ballots: one batch typed by two officials, compared, accepted."""
    batch = casting.paper_batch_create(actor=first, election=election, pot=pot, booth="Town hall", label="1")
    text = "\n".join(lines)
    casting.paper_batch_enter(actor=first, batch=batch, text=text)
    # The second official types the codes in another order and case: the comparison is on canonical forms.
    casting.paper_batch_enter(
        actor=second, batch=batch, text="\n".join(" ".join(reversed(ln.split())).lower() for ln in lines)
    )
    batch = casting.paper_batch_accept(actor=first, batch=batch)
    return batch.lines_valid
