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
import statistics
import sys
import threading
import time
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pb.settings")

from common import (  # noqa: E402 (bench/common.py: this script's folder is on sys.path, after ROOT)
    django_throwaway,
    gunicorn_start,
    gunicorn_stop,
    results_election,
    server_env,
    synthetic_ballots,
)


def build_election(args):
    """A published election of args.ballots online ballots, through the real services."""
    from django.test import TestCase

    from ballots.ballotbox.sealing import ballots_seal_pending
    from tally.certification.services import election_certify
    from tally.closing import close_confirm, close_request
    from tally.counting import tally_run_execute, tally_start
    from tally.publication import election_publish
    from tally.signoff import signoff_recount

    rnd = random.Random(20261207)
    election, city, north, codes, officials, council = results_election(rnd, args.projects, args.ballots)
    synthetic_ballots(election, city, north, codes, rnd, args.ballots)
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

    with django_throwaway("api") as (tmp, _keys):
        serve_and_measure(args, tmp)


def serve_and_measure(args, tmp: Path) -> None:
    from django.core.cache import cache
    from django.db import connection

    from tally.opendata import selectors

    t0 = time.perf_counter()
    election = build_election(args)
    took = time.perf_counter() - t0
    print(f"setup: {args.ballots:,} ballots, published, in {took:.1f} s on {connection.vendor}")

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

    s = connection.settings_dict
    if connection.vendor == "sqlite":
        url = f"sqlite:///{s['NAME']}"
    else:
        where = f"{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}"
        url = f"postgres://{quote(s['USER'] or '')}@{where}/{s['NAME']}"
    connection.close()
    env = server_env(url, PB_VAR_DIR=str(tmp / "var"), PB_API_RATE_COUNT=str(10**9))
    server, host, port = gunicorn_start(
        env,
        workers=args.workers,
        threads=4,
        port=args.port,
        extra=("--worker-class", "gthread", "--keep-alive", "30"),
    )
    try:
        path = f"/api/v1/elections/{election.slug}/results"
        print(
            f"server: gunicorn, {args.workers} workers x 4 threads; "
            f"{args.clients} clients x {args.requests} requests"
        )
        report("cold (each worker builds once)", *load(host, port, path, clients=args.clients, requests=1))
        report(
            "warm (cached JSON)",
            *load(host, port, path, clients=args.clients, requests=args.requests),
        )
        c = http.client.HTTPConnection(host, port, timeout=30)
        c.request("GET", path)
        r = c.getresponse()
        size = len(r.read())
        etag = r.getheader("ETag")
        report(
            "conditional (If-None-Match: 304)",
            *load(host, port, path, clients=args.clients, requests=args.requests, etag=etag),
        )
        print(f"results body: {size / 1000:.1f} kB")

        stats = f"/results/{election.slug}/statistics/"
        report("statistics page, first requests", *load(host, port, stats, clients=args.clients, requests=1))
        report("statistics page", *load(host, port, stats, clients=args.clients, requests=args.requests))
        print(
            f"statistics snapshot built in {snapshot_ms:.0f} ms (median of 3, in process); "
            f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
        )
    finally:
        gunicorn_stop(server, timeout=30)


if __name__ == "__main__":
    main()
