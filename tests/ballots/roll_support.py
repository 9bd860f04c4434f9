"""Test helpers of the voter roll: roll entries with real hashes, and codes with their plaintext."""

from __future__ import annotations

import datetime as dt

from ballots.models import VoterRollEntry, VotingCode
from ballots.roll import entries as roll
from ballots.roll.eligibility import age_on


def make_voter(
    election, district, ref: str = "R-0001", dob: dt.date = dt.date(1990, 5, 17)
) -> VoterRollEntry:
    eligible = True
    if election.min_age and election.age_reference_date:
        eligible = age_on(dob, election.age_reference_date) >= election.min_age
    return VoterRollEntry.objects.create(
        election=election,
        ref_hash=roll.ref_hash(ref),
        ref_dob_hash=roll.ref_dob_hash(ref, dob.isoformat()),
        birth_year=dob.year,
        age_eligible=eligible,
        district=district,
    )


def make_code(voter: VoterRollEntry, plain: str | None = None) -> str:
    plain = plain or roll.new_code()
    VotingCode.objects.create(
        election=voter.election, voter=voter, code_hash=roll.code_hash(roll.normalize_code(plain))
    )
    return plain
