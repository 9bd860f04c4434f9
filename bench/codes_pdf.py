"""Time to make the printable voting-code letters, for 100, 500, 1000 and 5000 letters (5000 is the form's
largest batch).

    .venv/bin/python bench/codes_pdf.py [N ...]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pb .venv/bin/python bench/codes_pdf.py --worker [N ...]

Without --worker: the PDF alone (ballots.roll.codes_pdf.code_sheets_pdf), from plain objects, no database.
With --worker: the whole job as production runs it (ballots.roll.letters): its own database
(`<name>_bench_codes`, dropped first and after), an election with N voters, the job queued by the service the
page calls, one `manage.py task_worker` process that chooses the voters, makes the codes, lays out the
letters, seals the PDF and records the batch; the bench polls the job row (as the page does) and then opens
the sealed PDF with the official's key halves, as the download does.

Prints letters, seconds (queued to done), letters/s and the PDF's size; with --worker also how many
progress values the polls saw. Never asserts on time.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.append(str(Path(__file__).resolve().parent))  # bench/common.py (after the apps: bench/tally.py)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pb.settings")


SETUP = r"""
import json, sys
import django
django.setup()
from django.contrib.auth.models import Group, User
from ballots.models import VoterRollEntry
from ballots.roll import entries as roll, letters
from pb.core.models import Election, Phase, Pot, Role
n = int(sys.argv[1])
clerk = User.objects.create_user("bench-official")
clerk.groups.add(Group.objects.get_or_create(name=Role.OFFICIAL)[0])
e = Election.objects.create(name="Riverton PB 2027", slug="riverton-2027", phase=Phase.REVIEW)
north = Pot.objects.create(election=e, name="North", slug="north", budget=1_000_000)
VoterRollEntry.objects.bulk_create(
    VoterRollEntry(election=e, district=north, birth_year=1990, ref_hash=roll.ref_hash(f"N-{i}"),
                   ref_dob_hash=roll.ref_dob_hash(f"N-{i}", "1990-01-01"))
    for i in range(n)
)
keys = letters.LetterKeys.new()
job, _ = letters.code_letters_start(actor=clerk, election=e, district=None, references=None, limit=n,
                                    public_key=keys.public_key(e.pk))
print(json.dumps({"job": str(job.pk), "browser": keys.browser.hex(), "session": keys.session.hex()}))
"""

OPEN = r"""
import json, sys
import django
django.setup()
from django.contrib.auth.models import User
from ballots.roll import letters
from pb.core.models import Job
job = Job.objects.get(pk=sys.argv[1])
keys = letters.LetterKeys(bytes.fromhex(sys.argv[2]), bytes.fromhex(sys.argv[3]))
pdf = letters.code_letters_take(actor=User.objects.get(username="bench-official"), job=job, keys=keys)
print(json.dumps({"bytes": len(pdf), "pdf": pdf[:5].decode(), "letters": job.result.get("letters")}))
"""


def _django(env: dict, script: str, *args: str) -> dict:
    """Run a Django script in the bench's environment; its last line of output, as JSON."""
    import json
    import subprocess

    from common import PY, ROOT

    out = subprocess.run(
        [PY, "-c", script, *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def worker_bench(sizes: list[int]) -> None:
    import subprocess
    import tempfile

    import psycopg
    from common import PY, ROOT, db_urls, recreate_db, server_env

    admin, url, name = db_urls(os.environ.get("DATABASE_URL", ""), "bench_codes")
    for n in sizes:
        recreate_db(admin, name)
        worker = None
        try:
            with tempfile.TemporaryDirectory() as var:
                env = server_env(url, PB_VAR_DIR=var, PB_PUBLIC_URL="https://pb.example.org")
                env["PB_TASKS_BACKEND"] = "database"

                subprocess.run(
                    [PY, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True
                )
                started = _django(env, SETUP, str(n))
                t = time.perf_counter()
                worker = subprocess.Popen(
                    [
                        PY,
                        "manage.py",
                        "task_worker",
                        "--queue-name=default",
                        "--interval=0.1",
                        "--no-startup-delay",
                    ],
                    cwd=ROOT,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                seen, status = set(), "queued"
                with psycopg.connect(url, autocommit=True) as conn:
                    while status in ("queued", "running"):
                        time.sleep(0.5)
                        status, done = conn.execute(
                            "SELECT status, done FROM core_job WHERE id = %s", (started["job"],)
                        ).fetchone()
                        seen.add(done)
                s = time.perf_counter() - t
                opened = _django(env, OPEN, started["job"], started["browser"], started["session"])
                print(
                    f"{n:>6} letters  {s:7.2f} s  {n / s:7.1f} letters/s  {opened['bytes'] / 1e6:6.2f} MB"
                    f"  job {status}, {len(seen)} progress values seen, opened: {opened['pdf']}"
                )
        finally:
            if worker is not None:
                worker.terminate()
                worker.wait(timeout=30)
            recreate_db(admin, name, drop_only=True)


def main(sizes: list[int]) -> None:
    import django

    django.setup()
    from ballots.roll.codes_pdf import code_sheets_pdf

    election = SimpleNamespace(name="Riverton PB 2027", slug="riverton-2027")
    district = SimpleNamespace(name="North")
    for n in sizes:
        sheets = [
            SimpleNamespace(
                voter=SimpleNamespace(district=district),
                code=f"ABCD-EFGH-{i:04d}",
                reference="",
                letter=f"L-{i:06d}",
            )
            for i in range(n)
        ]
        t = time.perf_counter()
        pdf = code_sheets_pdf(election, sheets, identify_url="https://pb.example.org/vote/riverton-2027/")
        s = time.perf_counter() - t
        print(f"{n:>6} letters  {s:7.2f} s  {n / s:7.1f} letters/s  {len(pdf) / 1e6:6.2f} MB")


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--worker"]
    run = worker_bench if "--worker" in sys.argv[1:] else main
    run([int(a) for a in args] or [100, 500, 1000, 5000])
