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
import hashlib
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pb.settings")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ballots", type=int, default=100_000)
    parser.add_argument("--projects", type=int, default=60)
    args = parser.parse_args()

    import django
    from django.conf import settings

    tmp = Path(tempfile.mkdtemp(prefix="pb-bench-results-"))
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        db["TEST"] = {"NAME": str(tmp / "bench.sqlite3")}
    else:
        db["TEST"] = {"NAME": f"{db['NAME']}_bench_results"}
    keys = ROOT / "fixtures" / "keys"
    settings.PB_VAR_DIR = tmp / "var"
    settings.PB_SIGNING_KEY_FILE = str(keys / "test-council-ed25519.key")
    settings.PB_SIGNING_CERT_FILE = str(keys / "test-pades-cert.pem")
    settings.PB_SIGNING_CERT_KEY_FILE = str(keys / "test-pades-key.pem")
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    django.setup()

    from django.db import connection
    from django.test.utils import setup_test_environment

    from ballots.ballotbox import pending as pending_ballots
    from ballots.models import PendingBallot

    def cast(election, pot, projects, receipt):
        """A ballot as ballot_cast stores it: pending (encrypted) until sealed."""
        row = pending_ballots.row(
            election_id=election.pk,
            pot_id=pot.pk,
            projects=projects,
            points={},
            is_paper=False,
            receipt_hash=receipt,
        )
        return PendingBallot(id=row["id"], election=election, pot=pot, content=row["content"])

    from ballots.ballotbox.sealing import SEAL_AFTER_CAST, ballots_seal_pending
    from pb.core.models import Election, Phase, Pot, Role
    from pb.core.services import election_advance
    from proposals.models import Proposal, ProposalStatus
    from tally.certification.services import election_certify
    from tally.closing import close_confirm, close_request
    from tally.counting import tally_run_execute, tally_start
    from tally.engine import verify
    from tally.filestore import election_dir
    from tally.signoff import signoff_recount
    from tests.factories import UserFactory

    # A server process imports these once; time the work, not the first import (printed separately).
    t0 = time.perf_counter()
    import pyhanko.sign.validation  # noqa: F401
    import weasyprint  # noqa: F401
    from pyhanko.sign import signers  # noqa: F401

    print(f"first import of WeasyPrint and pyHanko: {time.perf_counter() - t0:.2f} s (once per process)")
    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    timings: dict[str, float] = {}

    def timed(label, fn, *a, **kw):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn(*a, **kw)
        timings[label] = time.perf_counter() - t0
        print(f"{label:<48} {timings[label]:7.2f} s  (CPU {time.process_time() - c0:.2f} s)", flush=True)
        return out

    try:
        rnd = random.Random(20260601)
        election = Election.objects.create(
            name="Bench City PB",
            slug="bench",
            city="Bench",
            min_age=16,
            age_reference_date=dt.date(2026, 6, 1),
        )
        city = Pot.objects.create(
            election=election, name="Citywide", slug="city", is_citywide=True, budget=5_000_000
        )
        north = Pot.objects.create(election=election, name="North", slug="north", budget=1_000_000)
        pots = {city: args.projects, north: max(5, args.projects // 3)}
        codes: dict[int, list[tuple[str, int]]] = {}
        for pot, k in pots.items():
            codes[pot.pk] = []
            for i in range(k):
                cost = rnd.randrange(50, 1500) * 1000 * (1 if pot is city else 0.3)
                code = f"{pot.slug[0].upper()}{i + 1:03d}"
                Proposal.objects.create(
                    election=election,
                    pot=pot,
                    code=code,
                    title=f"Project {code}",
                    description="-",
                    cost=int(cost),
                    status=ProposalStatus.FEASIBLE,
                )
                codes[pot.pk].append((code, int(cost)))
        officials = [UserFactory(username=f"o{i}", roles=[Role.OFFICIAL]) for i in range(3)]
        council = UserFactory(username="council", roles=[Role.COUNCIL])
        for phase in (Phase.PROPOSALS_OPEN, Phase.REVIEW, Phase.VOTING_OPEN):
            election = election_advance(actor=officials[0], election=election, to_phase=phase)

        t0 = time.perf_counter()
        weights = {pk: [rnd.random() ** 2 for _ in c] for pk, c in codes.items()}
        pending: list[PendingBallot] = []
        seals = 0
        for n in range(args.ballots):
            pot = city if n % 4 else north
            chosen, spent = [], 0
            for code, cost in rnd.choices(codes[pot.pk], weights=weights[pot.pk], k=rnd.randint(1, 6)):
                if code not in chosen and spent + cost <= pot.budget:
                    chosen.append(code)
                    spent += cost
            receipt = hashlib.sha256(f"pb-receipt:{n}-{rnd.random()}".encode()).hexdigest()
            pending.append(cast(election, pot, sorted(chosen), receipt))
            if len(pending) == 2000:  # casting seals every commit; 2000 at a time keeps the setup short
                PendingBallot.objects.bulk_create(pending)
                pending = []
                ballots_seal_pending(election_id=election.pk)
                seals += 1
        PendingBallot.objects.bulk_create(pending)
        took = time.perf_counter() - t0
        print(f"setup: {args.ballots:,} ballots cast and sealed ({seals} batches) in {took:.1f} s")
        ballots_seal_pending(election_id=election.pk)
        # K (20) of each pot are kept back; 50 more make the pot due (K + max(K, SEAL_AFTER_CAST)).
        extra = [cast(election, city, [codes[city.pk][0][0]], f"{i:064x}") for i in range(SEAL_AFTER_CAST)]
        PendingBallot.objects.bulk_create(extra[:-1])
        seal = ballots_seal_pending
        timed("seal check after a cast (nothing to seal)", seal, election_id=election.pk)
        PendingBallot.objects.bulk_create(extra[-1:])
        timed(f"seal a batch of {SEAL_AFTER_CAST}", seal, election_id=election.pk)

        close_request(actor=officials[0], election=election)
        election = timed(
            "close (confirm + seal the rest)", close_confirm, actor=officials[1], election=election
        )
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
        timings["official count (log check, export, count)"] = (
            run.finished_at - run.created_at
        ).total_seconds()
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
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        for p in sorted(tmp.rglob("*"), reverse=True):
            if p.is_file():
                p.chmod(0o644)
                p.unlink()
            else:
                p.rmdir()
        tmp.rmdir()


if __name__ == "__main__":
    main()
