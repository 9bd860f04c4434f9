"""PostgreSQL fast path: a large import checks foreign keys once and leaves the constraints as they were."""

import datetime as dt

import pytest
from django.db import connection

from ballots.models import VoterRollEntry
from ballots.roll.services import roll_import
from pb.core.models import Phase
from tests.factories import ElectionFactory, PotFactory, official

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def _constraints():
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, VoterRollEntry._meta.db_table)
    return {n: (c["columns"], c["foreign_key"]) for n, c in found.items() if c.get("foreign_key")}


def _deferrable():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname, condeferrable, condeferred FROM pg_constraint "
            "WHERE conrelid = %s::regclass AND contype = 'f' ORDER BY conname",
            [VoterRollEntry._meta.db_table],
        )
        return cursor.fetchall()


def test_large_import_keeps_foreign_keys(tmp_path):
    election = ElectionFactory(phase=Phase.REVIEW, min_age=16, age_reference_date=dt.date(2026, 6, 1))
    pots = [PotFactory(election=election, slug=f"d{i}") for i in range(3)]
    before, before_def = _constraints(), _deferrable()
    assert len(before) == 2
    path = tmp_path / "big.csv"
    with open(path, "w") as fh:
        fh.write("reference,date_of_birth,district\n")
        for i in range(60_000):
            fh.write(f"R{i},1980-01-01,{pots[i % 3].slug}\n")
    report = roll_import(actor=official(), election=election, path=path)
    assert report.imported == 60_000
    assert VoterRollEntry.objects.filter(election=election).count() == 60_000
    assert _constraints() == before and _deferrable() == before_def
