"""Time the results pipeline of a 100,000-ballot election: seal, export, count, sign off, certify (manifest,
Ed25519, PDF/A-3b, PAdES) and the independent verifier.

    .venv/bin/python bench/results.py [--ballots N] [--projects K]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pb .venv/bin/python bench/results.py

Creates a throw-away database (SQLite: a file in a temp dir; PostgreSQL: "<name>_bench_results"), an election
with a citywide pot (K projects, knapsack ballots) and a district pot, N synthetic ballots (approval sets
drawn with per-project popularity), sealed in batches as casting would, and runs the real services with the
TEST ONLY keys of fixtures/keys. Prints figures; never asserts on time. Target: count + render + sign < 10 s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pb.settings")

from common import (  # noqa: E402 (bench/common.py: this script's folder is on sys.path, after ROOT)
    django_throwaway,
    online_participation,
    pending_ballot,
    results_election,
    roll_ids,
    synthetic_ballots,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ballots", type=int, default=100_000)
    parser.add_argument("--projects", type=int, default=60)
    args = parser.parse_args()

    with django_throwaway("results") as (_tmp, keys):
        run_bench(args, keys)


def run_bench(args, keys: Path) -> None:
    from django.db import connection

    from ballots.ballotbox.sealing import SEAL_AFTER_CAST, ballots_seal_pending
    from ballots.models import Participation, PendingBallot
    from tally.certification.services import election_certify
    from tally.closing import close_confirm, close_request
    from tally.counting import tally_run_execute, tally_start
    from tally.engine import verify
    from tally.filestore import election_dir
    from tally.signoff import signoff_recount

    # A server process imports these once; time the work, not the first import (printed separately).
    t0 = time.perf_counter()
    import pyhanko.sign.validation  # noqa: F401
    import weasyprint  # noqa: F401
    from pyhanko.sign import signers  # noqa: F401

    print(f"first import of WeasyPrint and pyHanko: {time.perf_counter() - t0:.2f} s (once per process)")
    timings: dict[str, float] = {}

    def timed(label, fn, *a, **kw):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn(*a, **kw)
        timings[label] = time.perf_counter() - t0
        print(f"{label:<48} {timings[label]:7.2f} s  (CPU {time.process_time() - c0:.2f} s)", flush=True)
        return out

    rnd = random.Random(20260601)
    election, city, north, codes, officials, council = results_election(
        rnd,
        args.projects,
        args.ballots,
        city_voters=SEAL_AFTER_CAST,  # the voters of the seal timings below
        min_age=16,
        age_reference_date=dt.date(2026, 6, 1),
    )

    t0 = time.perf_counter()
    seals = synthetic_ballots(election, city, north, codes, rnd, args.ballots)
    took = time.perf_counter() - t0
    print(f"setup: {args.ballots:,} ballots cast and sealed ({seals} batches) in {took:.1f} s")
    ballots_seal_pending(election_id=election.pk)
    # K (20) of each pot are kept back; 50 more make the pot due (K + max(K, SEAL_AFTER_CAST)).
    first = [codes[city.pk][0][0]]
    voters = [voter_id for voter_id, _pot in roll_ids(election, start=args.ballots)]
    Participation.objects.bulk_create([online_participation(election, city, v) for v in voters])
    extra = [pending_ballot(election, city, first, f"{i:064x}") for i in range(len(voters))]
    PendingBallot.objects.bulk_create(extra[:-1])
    seal = ballots_seal_pending
    timed("seal check after a cast (nothing to seal)", seal, election_id=election.pk)
    PendingBallot.objects.bulk_create(extra[-1:])
    timed(f"seal a batch of {SEAL_AFTER_CAST}", seal, election_id=election.pk)

    close_request(actor=officials[0], election=election)
    election = timed("close (confirm + seal the rest)", close_confirm, actor=officials[1], election=election)
    run = timed(
        "start official count (runs it: ImmediateBackend)",
        tally_start,
        actor=officials[0],
        election=election,
    )
    # With the ImmediateBackend the count already ran when tally_start committed (on_commit); time the
    # count itself from the run's own clock and the whole request from here.
    if os.environ.get("PB_BENCH_PROFILE_COUNT"):
        import cProfile
        import pstats

        run.status = "pending"
        run.save()
        pr = cProfile.Profile()
        pr.enable()
        tally_run_execute(run_id=run.pk)
        pr.disable()
        pstats.Stats(pr).sort_stats("cumulative").print_stats(30)
    run.refresh_from_db()
    timings["official count (log check, export, count)"] = (run.finished_at - run.created_at).total_seconds()
    label = "official count (log check, export, count)"
    print(f"{label:<48} {timings[label]:7.2f} s")
    assert run.status == "done", run.error
    election.refresh_from_db()
    timed("sign-off re-count (official 2)", signoff_recount, actor=officials[1], election=election)
    timed("sign-off re-count (official 3)", signoff_recount, actor=officials[2], election=election)
    if os.environ.get("PB_BENCH_PROFILE"):
        import cProfile
        import pstats

        pr = cProfile.Profile()
        pr.enable()
    cert = timed(
        "certify (manifest, Ed25519, PDF/A-3b, PAdES)",
        election_certify,
        actor=council,
        election=election,
    )
    if os.environ.get("PB_BENCH_PROFILE"):
        pr.disable()
        pstats.Stats(pr).sort_stats("cumulative").print_stats(35)
    folder = election_dir(election)
    pub = verify.load_public_key((keys / "test-council-ed25519.pub").read_bytes())
    report = timed(
        "offline verify (PDF, files, log, re-count)",
        verify.verify_pdf,
        (folder / cert.pdf_name).read_bytes(),
        public_key=pub,
        files=verify.read_dir(folder),
    )
    assert report.ok, report.text()
    total = (
        timings["official count (log check, export, count)"]
        + timings["certify (manifest, Ed25519, PDF/A-3b, PAdES)"]
    )
    sizes = {p.name: p.stat().st_size for p in folder.iterdir()}
    print(
        f"\ncount + render + sign: {total:.2f} s (target < 10 s) on {connection.vendor}, "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    print("files: " + ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in sorted(sizes.items())))


if __name__ == "__main__":
    main()
