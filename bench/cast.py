"""Casting over HTTP on PostgreSQL: gunicorn, 50 concurrent voters, ballots/s and latency.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pb .venv/bin/python bench/cast.py [--voters 3000]

What it does (bounded in count and time, cleans up after itself):
1. creates its own database (`<name>_bench_cast`, dropped first), migrates it, and makes an election with
   one citywide knapsack pot of 12 projects and N voters, each with a one-time voting code; the election is
   moved to "voting open" through the normal phase change (so the roll snapshot and any sealing set-up run);
2. starts gunicorn (`--workers`, default 6 sync workers; `--threads N` for gthread) on 127.0.0.1 with DEBUG
   off;
3. warms up (a few voters identify and cast: imports, templates, database connections), then runs two
   phases with `--concurrency` (default 50) client threads, each voter doing what a browser does:
   phase 1 (preparation) GET the identify page (CSRF cookie) and POST the code (`--full`: also GET the pots
   page, GET the ballot page, POST the review step); phase 2 (the figure the issue asks for) POST the
   ballot to the cast URL, whose response is the receipt page;
4. prints, for each phase separately, what is timed, the rate, p50/p95/max latency, errors, the server CPU
   per request (gunicorn workers + PostgreSQL backends, from /proc: meaningful even when other work shares
   the machine), the load generator's own CPU, and PostgreSQL transactions per request; then checks that the
   database holds exactly one ballot and one participation per receipt;
5. stops gunicorn and drops the database (unless --keep-db).

The client threads share the machine's cores with gunicorn and PostgreSQL, so the figure is a lower bound
of what the server alone would do. Never asserts on time: it prints.
"""

from __future__ import annotations

import argparse
import os
import queue
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # bench/common.py, next to this file
    CSRF_RE,
    PY,
    RECEIPT_RE,
    ROOT,
    Client,
    ServerCPU,
    audit_key,
    ballot_counts,
    db_urls,
    gunicorn_start,
    gunicorn_stop,
    pct,
    recreate_db,
    server_env,
    voting_election,
)


def _db_urls(base_url: str) -> tuple[str, str, str]:
    return db_urls(base_url, "bench_cast")


class Voter:
    def __init__(self, host: str, port: int, code: str):
        self.client = Client(host, port)
        self.code = code
        self.token = ""


def _identify(voter: Voter, setup, rng, full: bool, stats, lock) -> None:
    """Phase 1 (preparation, timed on its own): GET the identify page (CSRF cookie), POST the code;
    with --full also GET the pots page, GET the ballot page and POST the review step."""
    slug, pot, c = setup["slug"], setup["pot"], voter.client
    status, _loc, html = c.request("GET", f"/vote/{slug}/identify/")
    if status != 200:
        raise RuntimeError(f"identify page {status}")
    voter.token = CSRF_RE.search(html).group(1)
    t1 = time.perf_counter()
    status, _loc, _html = c.request(
        "POST",
        f"/vote/{slug}/identify/",
        [("csrfmiddlewaretoken", voter.token), ("method", "code"), ("code-code", voter.code)],
    )
    t_ident = time.perf_counter() - t1
    if status != 302:
        raise RuntimeError(f"identify {status}")
    # A random valid knapsack ballot: 1 to 6 projects (the costliest six sum to 960 000 <= 1 000 000).
    choice = rng.sample(setup["projects"], rng.randint(1, 6))
    voter.form = [("csrfmiddlewaretoken", voter.token)] + [("project", p) for p in choice]
    if full:
        for path in (f"/vote/{slug}/", f"/vote/{slug}/{pot}/"):
            status, _l, _h = c.request("GET", path)
            if status != 200:
                raise RuntimeError(f"GET {path} {status}")
        status, _l, html = c.request("POST", f"/vote/{slug}/{pot}/", voter.form)
        if status != 200 or "cast-button" not in html:
            raise RuntimeError(f"review {status}")
    with lock:
        stats["latency"].append(t_ident)


def _cast(voter: Voter, setup, rng, full: bool, stats, lock) -> None:
    """Phase 2 (the timed one): POST the reviewed ballot to the cast URL; the response is the receipt."""
    slug, pot = setup["slug"], setup["pot"]
    t2 = time.perf_counter()
    status, _l, html = voter.client.request("POST", f"/vote/{slug}/{pot}/cast/", voter.form)
    t_cast = time.perf_counter() - t2
    if status != 200 or not RECEIPT_RE.search(html):
        raise RuntimeError(f"cast {status}")
    with lock:
        stats["latency"].append(t_cast)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--voters", type=int, default=3000, help="voters on the roll (each casts once)")
    ap.add_argument("--concurrency", type=int, default=50, help="concurrent voters")
    ap.add_argument(
        "--workers", type=int, default=6, help="gunicorn workers (2 or more; default 3 x the 2 cores)"
    )
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="gunicorn threads per worker (1: sync workers, the default; more: gthread)",
    )
    ap.add_argument("--port", type=int, default=0, help="0: a free port")
    ap.add_argument("--max-seconds", type=float, default=120, help="stop starting new voters after this")
    ap.add_argument(
        "--warmup", type=int, default=100, help="voters who identify and cast before the timed phases"
    )
    ap.add_argument(
        "--full", action="store_true", help="phase 1 also loads the pots, ballot and review pages"
    )
    ap.add_argument("--keep-db", action="store_true")
    args = ap.parse_args()
    if args.workers < 2:
        sys.exit("use 2 or more gunicorn workers")

    admin_url, bench_url, db_name = _db_urls(os.environ.get("DATABASE_URL", ""))
    env = server_env(bench_url)
    keys = tempfile.TemporaryDirectory(prefix="pb-bench-keys-")
    audit_key(env, keys.name)  # opening voting with DEBUG off signs an audit checkpoint
    print(f"database {db_name}: creating and migrating …", flush=True)
    recreate_db(admin_url, db_name)
    gunicorn = None
    try:
        subprocess.run([PY, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
        t = time.perf_counter()
        setup = voting_election(env, args.voters)
        print(
            f"election with {args.voters} voters and codes ready in {time.perf_counter() - t:.1f} s",
            flush=True,
        )

        gunicorn, host, port = gunicorn_start(env, workers=args.workers, threads=args.threads, port=args.port)
        print(
            f"gunicorn: {args.workers} workers x {args.threads} thread(s) on {host}:{port}; "
            f"{args.concurrency} concurrent voters; phase 1 identifies every voter"
            + (" (and loads the pots/ballot/review pages)" if args.full else "")
            + ", phase 2 (timed for ballots/s) casts their ballots",
            flush=True,
        )

        voters = [Voter(host, port, code) for code in setup["codes"]]
        lock = threading.Lock()

        def run(step, batch: list[Voter], deadline: float, stats, errors: list[str]) -> float:
            work: queue.Queue[Voter] = queue.Queue()
            for v in batch:
                work.put(v)

            def worker(seed: int):
                rng = random.Random(seed)
                while time.perf_counter() < deadline:
                    try:
                        v = work.get_nowait()
                    except queue.Empty:
                        return
                    try:
                        step(v, setup, rng, args.full, stats, lock)
                        with lock:
                            stats["done"].append(v)
                    except Exception as exc:  # counted and reported, the run goes on
                        with lock:
                            errors.append(repr(exc))

            start = time.perf_counter()
            threads = [threading.Thread(target=worker, args=(i,)) for i in range(args.concurrency)]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            return time.perf_counter() - start

        def measured(step, batch, seconds):
            """Run one phase; wall time, latencies, errors, and the CPU the server side (gunicorn workers +
            this database's PostgreSQL backends) and this load generator spent on it."""
            stats: dict[str, list] = {"latency": [], "done": []}
            errors: list[str] = []
            meter = ServerCPU(gunicorn, admin_url, db_name)
            meter.start()
            elapsed = run(step, batch, time.perf_counter() + seconds, stats, errors)
            return {
                "n": len(stats["done"]),
                "elapsed": elapsed,
                "latency": stats["latency"],
                "done": stats["done"],
                "errors": errors,
                **meter.stop(),  # app_cpu, db_cpu, client_cpu, xacts
            }

        # Phase 0, not reported: a few voters identify and cast so every worker has imported and compiled
        # its templates and opened its database connections.
        warm = min(args.warmup, len(voters) // 10)
        run(_identify, voters[:warm], time.perf_counter() + 60, {"latency": [], "done": []}, [])
        run(_cast, voters[:warm], time.perf_counter() + 60, {"latency": [], "done": []}, [])
        rest = voters[warm:]
        print(f"phase 1: {len(rest)} voters identify …", flush=True)
        ident = measured(_identify, rest, args.max_seconds)
        ready = ident["done"]
        print(f"phase 2: {len(ready)} identified voters cast …", flush=True)
        cast = measured(_cast, ready, args.max_seconds)

        def report(title: str, what: str, r: dict) -> None:
            n, ms = r["n"], 1000
            lat = r["latency"]
            print()
            print(f"{title}")
            print(f"  timed               {what}")
            print(f"  done                {n} in {r['elapsed']:.2f} s, {args.concurrency} concurrent clients")
            print(f"  rate                {n / r['elapsed'] if r['elapsed'] else 0:.1f} /s")
            print(
                f"  latency             p50 {pct(lat, 50) * ms:.1f} ms   p95 {pct(lat, 95) * ms:.1f} ms   "
                f"max {max(lat, default=0) * ms:.1f} ms"
            )
            if n:
                per = (r["app_cpu"] + r["db_cpu"]) / n * ms
                print(
                    f"  server CPU          {per:.1f} ms each (gunicorn {r['app_cpu'] / n * ms:.1f} + "
                    f"PostgreSQL {r['db_cpu'] / n * ms:.1f}); if the server had the "
                    f"{os.cpu_count()} cores to itself: ~{os.cpu_count() * 1000 / per:.0f} /s"
                )
                print(
                    f"  load generator CPU  {r['client_cpu'] / n * ms:.1f} ms each "
                    "(this process, on the same machine)"
                )
                print(f"  PG transactions     {r['xacts'] / n:.1f} each (autocommit reads count one each)")
            print(f"  errors              {len(r['errors'])}")
            for e in sorted(set(r["errors"]))[:5]:
                print(f"    {r['errors'].count(e)} x {e}")

        report(
            "IDENTIFY (phase 1, preparation)",
            "POST of the voting code (the GET of the identify page before it is not in the latency"
            + (", nor the pots/ballot/review pages of --full" if args.full else "")
            + "; the CPU covers all of it)",
            ident,
        )
        report(
            "CAST (phase 2: the figure the issue asks for)",
            "POST of the ballot to the cast URL by identified voters, receipt page in the response",
            cast,
        )
        print()
        lat = cast["latency"]
        print(
            f"ballots/s {cast['n'] / cast['elapsed'] if cast['elapsed'] else 0:.1f}   "
            f"p50 {pct(lat, 50) * 1000:.1f} ms   p95 {pct(lat, 95) * 1000:.1f} ms   "
            f"errors {len(cast['errors'])}   (cast step only; target >= 300/s, p95 < 250 ms, 0 errors)"
        )
        print(
            f"load average {os.getloadavg()[0]:.1f} at the end ({os.cpu_count()} cores, shared by gunicorn, "
            "PostgreSQL, this load generator and anything else running)"
        )
        counts = ballot_counts(env)
        total = cast["n"] + warm
        print(
            f"database  {counts['ballots']} ballots, {counts['participations']} participations "
            f"for {total} receipts; duplicate participations: {counts['voters_with_two']}"
        )
    finally:
        gunicorn_stop(gunicorn)
        keys.cleanup()
        if not args.keep_db:
            recreate_db(admin_url, db_name, drop_only=True)


if __name__ == "__main__":
    main()
