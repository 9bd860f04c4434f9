"""Time the voter-roll import of 1,000,000 rows on the configured database.

    .venv/bin/python bench/roll_import.py [--rows N] [--keep-db]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pb .venv/bin/python bench/roll_import.py

Creates a throw-away database (SQLite: a file in a temp dir; PostgreSQL: "<name>_bench_roll"), an election
with 18 district pots, a CSV of N rows in a temp dir, then runs the real service (`roll_import`: validation,
HMACs, all-or-nothing write) and prints rows/s and seconds. Prints figures; never asserts on time.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pb.settings")


def write_csv(path: Path, rows: int, districts: list[str]) -> None:
    rnd = random.Random(20260601)
    start = dt.date(1930, 1, 1).toordinal()
    span = dt.date(2012, 12, 31).toordinal() - start
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["reference", "date_of_birth", "district", "contact"])
        for i in range(rows):
            dob = dt.date.fromordinal(start + rnd.randrange(span)).isoformat()
            contact = f"voter{i}@example.org" if i % 3 == 0 else ""
            w.writerow([f"PL{i:09d}", dob, districts[i % len(districts)], contact])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()

    import django
    from django.conf import settings

    tmp = Path(tempfile.mkdtemp(prefix="pb-bench-roll-"))
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        db["TEST"] = {"NAME": str(tmp / "bench.sqlite3")}
    else:
        db["TEST"] = {"NAME": f"{db['NAME']}_bench_roll"}
    django.setup()

    from django.db import connection
    from django.test.utils import setup_test_environment

    from ballots.services_roll import roll_import
    from pb.core.models import Election, Pot, Role
    from tests.factories import UserFactory

    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        election = Election.objects.create(
            name="Bench", slug="bench", min_age=16, age_reference_date=dt.date(2026, 6, 1)
        )
        slugs = [f"district-{i:02d}" for i in range(1, 19)]
        for s in slugs:
            Pot.objects.create(election=election, name=s.title(), slug=s, budget=1_000_000)
        Pot.objects.create(
            election=election, name="Citywide", slug="city", is_citywide=True, budget=5_000_000
        )
        official = UserFactory(username="bench-official", roles=[Role.OFFICIAL])

        path = tmp / "roll.csv"
        t0 = time.perf_counter()
        write_csv(path, args.rows, slugs)
        print(
            f"generated {args.rows:,} rows in {time.perf_counter() - t0:.1f} s "
            f"({path.stat().st_size / 1e6:.0f} MB)"
        )

        t0 = time.perf_counter()
        report = roll_import(actor=official, election=election, path=path, dry_run=True)
        check = time.perf_counter() - t0
        print(
            f"preview (validate only): {check:.1f} s, {report.rows / check:,.0f} rows/s, "
            f"errors {report.error_count}"
        )

        t0, c0 = time.perf_counter(), time.process_time()
        report = roll_import(actor=official, election=election, path=path)
        total, cpu = time.perf_counter() - t0, time.process_time() - c0
        assert report.imported == args.rows, report.errors[:3]
        print(
            f"import on {connection.vendor}: {report.imported:,} rows in {total:.1f} s "
            f"= {report.imported / total:,.0f} rows/s (CPU of this process: {cpu:.1f} s; "
            f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)"
        )

        from ballots.services_roll import roll_snapshot

        t0 = time.perf_counter()
        snap = roll_snapshot(actor=official, election=election)
        print(
            f"snapshot: {snap.entries:,} entries, sha256 {snap.sha256[:16]}…, "
            f"{time.perf_counter() - t0:.1f} s"
        )
    finally:
        if not args.keep_db:
            connection.creation.destroy_test_db(old_name, verbosity=0)
        for f in tmp.iterdir():
            f.unlink()
        tmp.rmdir()


if __name__ == "__main__":
    main()
