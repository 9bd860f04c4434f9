"""Maximum-size uploads to the public verify page while voters cast: does casting stay fast?

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pb .venv/bin/python bench/verify_upload_load.py

What it does (bounded in count and time, cleans up after itself):
1. creates its own database (`<name>_bench_verify`, dropped first), migrates it and makes an election with
   one citywide knapsack pot and N voters with voting codes (bench/cast.py's set-up); the council key is
   the TEST key of fixtures/keys (the verify page needs one);
2. starts gunicorn (`--workers`, default 6 sync workers, as bench/cast.py) on 127.0.0.1 with DEBUG off;
3. identifies every voter (not timed), then, at the same time: `--uploaders` clients (default 4, each
   from its own address) POST uploads of PB_VERIFY_MAX_BYTES (the largest the page takes: a PDF padded to
   the limit) to /results/verify/ one after the other, and `--concurrency` voters cast their ballots;
4. prints the casting latency (p50/p95/max) while the uploads ran, next to casting with no uploads, and
   what the uploads got back (302 = queued, to the job page: the check runs on the "public" queue's task
   worker, which the bench starts beside gunicorn; 429 = refused by the
   per-address rate limit or the site's verification slots; 413 = too large) with their latency;
   also one 58 MB upload (the size that used to take every worker down): refused with 413 before the body
   is read;
5. stops gunicorn and drops the database (unless --keep-db).

`--open-limits` lifts the rate limit and the slot cap (PB_VERIFY_RATE_COUNT, PB_VERIFY_CONCURRENCY) to
show what the byte cap alone does. Never asserts on time: it prints.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
# bench/cast.py: the same set-up and voter steps; bench/common.py: the server and client helpers
from cast import Voter, _cast, _identify
from common import (
    PY,
    ROOT,
    audit_key,
    db_urls,
    gunicorn_start,
    gunicorn_stop,
    pct,
    recreate_db,
    server_env,
    voting_election,
)

KEYS = ROOT / "fixtures" / "keys"


def _padded_pdf(size: int) -> bytes:
    """A syntactically plausible PDF of `size` bytes (one big stream): what a large result PDF costs to
    receive and parse, without a signature (so the verifier ends with FAIL, 422)."""
    head = b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
    head += b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n"
    tail = b"\nendstream\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
    stream_len = size - len(head) - len(tail) - 64
    body = b"3 0 obj\n<< /Length " + str(stream_len).encode() + b" >>\nstream\n"
    data = head + body + random.Random(1).randbytes(stream_len) + tail
    return data[:size]


def _upload(host: str, port: int, addr: str, pdf: bytes, limit: int) -> tuple[int, float]:
    """POST a multipart upload of `pdf` to the verify page (GET first for the CSRF cookie and token);
    returns (status, seconds of the POST)."""
    import re

    from cast import Client

    client = Client(host, port)
    client.addr = addr
    _status, _loc, html = client.request("GET", "/results/verify/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    boundary = "pbbench" + os.urandom(8).hex()
    pre = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="csrfmiddlewaretoken"\r\n\r\n{token}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="pdf"; filename="result.pdf"\r\n'
        "Content-Type: application/pdf\r\n\r\n"
    ).encode()
    post = f"\r\n--{boundary}--\r\n".encode()
    pdf = pdf[: max(0, limit - len(pre) - len(post))]  # the whole body at the limit, not over it
    body = pre + pdf + post
    head = (
        f"POST /results/verify/ HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n"
        f"X-Forwarded-For: {addr}\r\nCookie: csrftoken={client.cookies.get('csrftoken', '')}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    t = time.perf_counter()
    with socket.create_connection((host, port), timeout=120) as sock:
        # Refused before the body was read (413, 429): the answer is waiting all the same.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(head + body)
        chunks = []
        while got := sock.recv(65536):
            chunks.append(got)
    seconds = time.perf_counter() - t
    raw = b"".join(chunks)
    return int(raw.split(b" ", 2)[1]) if raw else 0, seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--voters", type=int, default=1500)
    ap.add_argument("--concurrency", type=int, default=20, help="concurrent voters")
    ap.add_argument("--uploaders", type=int, default=4, help="concurrent maximum-size uploaders")
    ap.add_argument("--workers", type=int, default=6)
    ap.add_argument("--open-limits", action="store_true", help="no rate limit, no slot cap")
    ap.add_argument("--keep-db", action="store_true")
    args = ap.parse_args()

    admin_url, bench_url, db_name = db_urls(os.environ.get("DATABASE_URL", ""), "bench_verify")
    limit = 8 * 1024 * 1024
    env = server_env(
        bench_url,
        PB_SIGNING_KEY_FILE=str(KEYS / "test-council-ed25519.key"),
        PB_SIGNING_CERT_FILE=str(KEYS / "test-pades-cert.pem"),
        PB_SIGNING_CERT_KEY_FILE=str(KEYS / "test-pades-key.pem"),
        PB_VERIFY_MAX_BYTES=str(limit),
    )
    if args.open_limits:
        env.update(PB_VERIFY_RATE_COUNT="1000000", PB_VERIFY_CONCURRENCY="1000")
    audit_dir = tempfile.TemporaryDirectory(prefix="pb-bench-keys-")
    audit_key(env, audit_dir.name)  # opening voting with DEBUG off signs an audit checkpoint
    print(f"database {db_name}: creating and migrating …", flush=True)
    recreate_db(admin_url, db_name)
    gunicorn = worker = None
    try:
        subprocess.run([PY, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
        setup = voting_election(env, args.voters)
        # The verify page only queues the check: one worker on the "public" queue runs them, as deployed
        # (docs/deploy.md), so the uploads' CPU is in the figures.
        worker = subprocess.Popen(
            [PY, "manage.py", "task_worker", "--queue-name=public", "--interval=0.2"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        gunicorn, host, port = gunicorn_start(env, workers=args.workers, extra=("--timeout", "60"))
        print(f"gunicorn: {args.workers} sync workers on {host}:{port}; 1 task_worker (public)", flush=True)

        voters = [Voter(host, port, code) for code in setup["codes"]]
        lock = threading.Lock()
        rng = random.Random(3)
        for v in voters:  # identify everyone first (not timed)
            _identify(v, setup, rng, False, {"latency": []}, lock)

        def cast_phase(batch: list[Voter], stop: threading.Event | None) -> list[float]:
            stats = {"latency": []}
            pending = list(batch)

            def worker():
                wrng = random.Random()
                while True:
                    with lock:
                        if not pending or (stop is not None and stop.is_set()):
                            return
                        v = pending.pop()
                    try:
                        _cast(v, setup, wrng, False, stats, lock)
                    except Exception as exc:  # reported, the run goes on
                        print("cast error", exc, flush=True)

            threads = [threading.Thread(target=worker) for _ in range(args.concurrency)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            return stats["latency"]

        quarter = len(voters) // 3
        quiet = cast_phase(voters[:quarter], None)

        pdf = _padded_pdf(limit)
        results: list[tuple[int, float]] = []
        stop = threading.Event()

        def uploader(i: int):
            addr = f"192.0.2.{10 + i}"
            while not stop.is_set():
                got = _upload(host, port, addr, pdf, limit)
                with lock:
                    results.append(got)

        ups = [threading.Thread(target=uploader, args=(i,)) for i in range(args.uploaders)]
        t0 = time.perf_counter()
        for t in ups:
            t.start()
        time.sleep(0.5)  # the uploads are under way
        busy = cast_phase(voters[quarter:], None)
        stop.set()
        for t in ups:
            t.join()
        elapsed = time.perf_counter() - t0
        big_status, big_seconds = _upload(
            host, port, "192.0.2.99", b"0" * (58 * 1024 * 1024), 58 * 1024 * 1024
        )

        def line(name: str, lat: list[float]) -> str:
            p50, p95, top = pct(lat, 50) * 1000, pct(lat, 95) * 1000, max(lat, default=0) * 1000
            return f"{name:34} n={len(lat):5}  p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  max {top:7.1f} ms"

        print()
        print(f"casting, {args.concurrency} concurrent voters, {args.workers} gunicorn workers")
        print(" ", line("without uploads", quiet))
        print(" ", line(f"during {args.uploaders} x {limit // 2**20} MB uploads", busy))
        codes: dict[int, list[float]] = {}
        for status, secs in results:
            codes.setdefault(status, []).append(secs)
        limits = "open limits" if args.open_limits else "default limits"
        print(f"uploads to /results/verify/ over {elapsed:.1f} s ({limits})")
        for status, secs in sorted(codes.items()):
            print(" ", line(f"HTTP {status}", secs))
        print(f"  one 58 MB upload: HTTP {big_status} in {big_seconds * 1000:.1f} ms")
        import psycopg

        with psycopg.connect(bench_url, autocommit=True) as conn:
            rows = conn.execute("SELECT status, count(*) FROM tally_verifyjob GROUP BY status").fetchall()
        jobs = dict(rows)
        print(f"  verification jobs queued by the uploads, by status at the end: {jobs}")
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(30)
        gunicorn_stop(gunicorn, timeout=30)
        audit_dir.cleanup()
        if not args.keep_db:
            recreate_db(admin_url, db_name, drop_only=True)


if __name__ == "__main__":
    main()
