"""Latency of the open data API's results endpoint and of the statistics page on a published 100,000-ballot
election, 20 clients at once.

    .venv/bin/python bench/api.py [--ballots N] [--projects K] [--clients C] [--requests R] [--workers W]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pb .venv/bin/python bench/api.py

Creates a throw-away database (SQLite: a file in a temp dir; PostgreSQL: "<name>_bench_api"), an election
with a citywide pot (K projects) and a district pot, a voter roll, N online voters with their ballots, and
takes it through close, count, two sign-offs, certification and publication with the real services and the
TEST ONLY keys of fixtures/keys. Then serves the site with gunicorn (W worker processes, 4 threads each,
DEBUG off) and lets C client threads each fetch /api/v1/elections/<slug>/results R times over keep-alive
connections. Prints p50/p95/max latency and throughput: cold (the first request of each worker builds the
JSON from the count and the ballot/turnout tables), warm (served from the cache), and conditional (a client
that sends its ETag back and gets 304). Then the same clients on the statistics page
(/results/<slug>/statistics/, tally.statistics: it reads the snapshot stored at closing and publication),
after the time to build that snapshot in process. Voters are spread over 7 days and born 1930-2010 so the
day and age tables are full size. Never asserts on time. Aim: p95 under 300 ms at 20 clients.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pb.settings")


def build_election(args, keys: Path):
    """A published election of args.ballots online ballots, through the real services."""
    import datetime as dt
    import hashlib

    from django.test import TestCase

    from ballots.ballotbox import pending as pending_ballots
    from ballots.ballotbox.sealing import ballots_seal_pending
    from ballots.models import Channel, Participation, PendingBallot, VoterRollEntry
    from pb.core.models import Election, Phase, Pot, Role
    from pb.core.services import election_advance
    from proposals.models import Proposal, ProposalStatus
    from tally.certification.services import election_certify
    from tally.closing import close_confirm, close_request
    from tally.counting import tally_run_execute, tally_start
    from tally.publication import election_publish
    from tally.signoff import signoff_recount
    from tests.factories import UserFactory

    rnd = random.Random(20261207)
    election = Election.objects.create(name="Bench City PB", slug="bench", city="Bench")
    city = Pot.objects.create(
        election=election, name="Citywide", slug="city", is_citywide=True, budget=5_000_000
    )
    north = Pot.objects.create(election=election, name="North", slug="north", budget=1_000_000)
    codes: dict[int, list[tuple[str, int]]] = {}
    for pot, k in ((city, args.projects), (north, max(5, args.projects // 3))):
        codes[pot.pk] = []
        for i in range(k):
            cost = int(rnd.randrange(50, 1500) * 1000 * (1 if pot is city else 0.3))
            code = f"{pot.slug[0].upper()}{i + 1:03d}"
            Proposal.objects.create(
                election=election,
                pot=pot,
                code=code,
                title=f"Project {code}",
                description="-",
                cost=cost,
                status=ProposalStatus.FEASIBLE,
            )
            codes[pot.pk].append((code, cost))
    voters = [city if n % 4 else north for n in range(args.ballots)]
    VoterRollEntry.objects.bulk_create(
        [
            VoterRollEntry(
                election=election,
                ref_hash=f"{n:064x}",
                ref_dob_hash=f"{n:064x}",
                district=pot,
                birth_year=rnd.randint(1930, 2010),
            )
            for n, pot in enumerate(voters)
        ],
        batch_size=5000,
    )
    officials = [UserFactory(username=f"o{i}", roles=[Role.OFFICIAL]) for i in range(3)]
    council = UserFactory(username="council", roles=[Role.COUNCIL])
    for phase in (Phase.PROPOSALS_OPEN, Phase.REVIEW, Phase.VOTING_OPEN):
        election = election_advance(actor=officials[0], election=election, to_phase=phase)

    weights = {pk: [rnd.random() ** 2 for _ in c] for pk, c in codes.items()}
    roll = iter(
        VoterRollEntry.objects.filter(election=election).order_by("pk").values_list("pk", "district_id")
    )
    day = dt.date(2026, 6, 10)
    pending, participations = [], []
    for n, pot in enumerate(voters):
        chosen, spent = [], 0
        for code, cost in rnd.choices(codes[pot.pk], weights=weights[pot.pk], k=rnd.randint(1, 6)):
            if code not in chosen and spent + cost <= pot.budget:
                chosen.append(code)
                spent += cost
        voter_id, district_id = next(roll)
        assert district_id == pot.pk
        participations.append(
            Participation(
                election=election,
                pot=pot,
                voter_id=voter_id,
                channel=Channel.ONLINE,
                day=day + dt.timedelta(days=rnd.randrange(7)),
            )
        )
        receipt = hashlib.sha256(f"pb-receipt:{n}".encode()).hexdigest()
        row = pending_ballots.row(
            election_id=election.pk,
            pot_id=pot.pk,
            projects=sorted(chosen),
            points={},
            is_paper=False,
            receipt_hash=receipt,
        )
        pending.append(PendingBallot(id=row["id"], election=election, pot=pot, content=row["content"]))
        if len(pending) == 2000:  # casting seals after every commit; 2000 at a time keeps the setup short
            Participation.objects.bulk_create(participations)
            PendingBallot.objects.bulk_create(pending)
            pending, participations = [], []
            ballots_seal_pending(election_id=election.pk)
    Participation.objects.bulk_create(participations)
    PendingBallot.objects.bulk_create(pending)
    ballots_seal_pending(election_id=election.pk)

    close_request(actor=officials[0], election=election)
    election = close_confirm(actor=officials[1], election=election)
    run = tally_start(actor=officials[0], election=election)
    run.refresh_from_db()
    if run.status == "pending":
        tally_run_execute(run_id=run.pk)
    election.refresh_from_db()
    signoff_recount(actor=officials[1], election=election)
    signoff_recount(actor=officials[2], election=election)
    with TestCase.captureOnCommitCallbacks(execute=True):
        election_certify(actor=council, election=election)
    election.refresh_from_db()
    with TestCase.captureOnCommitCallbacks(execute=True):
        election = election_publish(actor=council, election=election)
    return election


def load(host: str, port: int, path: str, *, clients: int, requests: int, etag: str | None = None):
    """`clients` threads, each `requests` GETs of `path` on one keep-alive connection: the latencies (s),
    the count of each status and the wall time."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    start = threading.Barrier(clients)
    headers = {"If-None-Match": etag} if etag else {}

    def client():
        conn = http.client.HTTPConnection(host, port, timeout=60)
        mine, codes = [], {}
        start.wait()
        for _ in range(requests):
            t0 = time.perf_counter()
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            response.read()
            mine.append(time.perf_counter() - t0)
            codes[response.status] = codes.get(response.status, 0) + 1
        conn.close()
        with lock:
            latencies.extend(mine)
            for k, v in codes.items():
                statuses[k] = statuses.get(k, 0) + v

    threads = [threading.Thread(target=client) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, statuses, time.perf_counter() - t0


def report(label: str, latencies: list[float], statuses: dict[int, int], wall: float) -> None:
    ordered = sorted(latencies)
    p = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000  # noqa: E731
    print(
        f"{label:<34} n={len(ordered):5d}  p50 {p(0.50):7.1f} ms  p95 {p(0.95):7.1f} ms  "
        f"max {ordered[-1] * 1000:7.1f} ms  {len(ordered) / wall:6.0f} req/s  statuses {statuses}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ballots", type=int, default=100_000)
    parser.add_argument("--projects", type=int, default=60)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=100, help="per client")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()

    import django
    from django.conf import settings

    tmp = Path(tempfile.mkdtemp(prefix="pb-bench-api-"))
    db = settings.DATABASES["default"]
    sqlite = db["ENGINE"].endswith("sqlite3")
    db["TEST"] = {"NAME": str(tmp / "bench.sqlite3")} if sqlite else {"NAME": f"{db['NAME']}_bench_api"}
    keys = ROOT / "fixtures" / "keys"
    settings.PB_VAR_DIR = tmp / "var"
    settings.PB_SIGNING_KEY_FILE = str(keys / "test-council-ed25519.key")
    settings.PB_SIGNING_CERT_FILE = str(keys / "test-pades-cert.pem")
    settings.PB_SIGNING_CERT_KEY_FILE = str(keys / "test-pades-key.pem")
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    django.setup()

    from django.db import connection
    from django.test.utils import setup_test_environment

    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    server = None
    try:
        t0 = time.perf_counter()
        election = build_election(args, keys)
        print(
            f"setup: {args.ballots:,} ballots, published, in {time.perf_counter() - t0:.1f} s "
            f"on {connection.vendor}"
        )

        from django.core.cache import cache

        from tally.opendata import selectors

        builds = []
        for _ in range(5):
            cache.clear()
            t0 = time.perf_counter()
            selectors.results_public(election)
            builds.append(time.perf_counter() - t0)
        print(
            f"{'results built from the tables':<34} median {statistics.median(builds) * 1000:.1f} ms "
            "(in process, no cache)"
        )

        from tally.statistics.services import statistics_build

        snaps = []
        for _ in range(3):
            t0 = time.perf_counter()
            statistics_build(election)
            snaps.append(time.perf_counter() - t0)
        snapshot_ms = statistics.median(snaps) * 1000

        name = connection.settings_dict["NAME"]
        if sqlite:
            url = f"sqlite:///{name}"
        else:
            s = connection.settings_dict
            url = f"postgres://{quote(s['USER'] or '')}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{name}"
        connection.close()
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "DJANGO_SECRET_KEY": "bench-only-not-a-secret-0123456789abcdefghijklmnopqrstuvwxyz",
            "DJANGO_DEBUG": "0",
            "DJANGO_SECURE_SSL_REDIRECT": "0",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            "PB_VAR_DIR": str(tmp / "var"),
            "PB_API_RATE_COUNT": str(10**9),
        }
        cmd = [
            sys.executable,
            "-m",
            "gunicorn",
            "pb.wsgi",
            "--bind",
            f"127.0.0.1:{args.port}",
            "--workers",
            str(args.workers),
            "--worker-class",
            "gthread",
            "--threads",
            "4",
            "--keep-alive",
            "30",
            "--log-level",
            "warning",
        ]
        server = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True)
        path = f"/api/v1/elections/{election.slug}/results"
        for _ in range(200):
            try:
                c = http.client.HTTPConnection("127.0.0.1", args.port, timeout=5)
                c.request("GET", "/healthz")
                c.getresponse().read()
                break
            except OSError:
                time.sleep(0.1)
        print(
            f"server: gunicorn, {args.workers} workers x 4 threads; "
            f"{args.clients} clients x {args.requests} requests"
        )
        report(
            "cold (each worker builds once)",
            *load("127.0.0.1", args.port, path, clients=args.clients, requests=1),
        )
        report(
            "warm (cached JSON)",
            *load("127.0.0.1", args.port, path, clients=args.clients, requests=args.requests),
        )
        c = http.client.HTTPConnection("127.0.0.1", args.port, timeout=30)
        c.request("GET", path)
        r = c.getresponse()
        size = len(r.read())
        etag = r.getheader("ETag")
        report(
            "conditional (If-None-Match: 304)",
            *load("127.0.0.1", args.port, path, clients=args.clients, requests=args.requests, etag=etag),
        )
        print(f"results body: {size / 1000:.1f} kB")

        stats = f"/results/{election.slug}/statistics/"
        report(
            "statistics page, first requests",
            *load("127.0.0.1", args.port, stats, clients=args.clients, requests=1),
        )
        report(
            "statistics page",
            *load("127.0.0.1", args.port, stats, clients=args.clients, requests=args.requests),
        )
        print(
            f"statistics snapshot built in {snapshot_ms:.0f} ms (median of 3, in process); "
            f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
        )
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
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
