"""What the HTTP benches share: their own PostgreSQL database, gunicorn, a lean browser-like client, and the
server's CPU read from /proc (gunicorn workers + this database's PostgreSQL backends).

Also the voting benches' election (bench/cast.py, bench/journey.py), and for the benches that run Django in
their own process (bench/api.py, bench/results.py) a throw-away database and a published-results election.
Used by every bench but tally.py, parse.py and codes_pdf.py (each run as a script: this directory is first on
sys.path).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import http.client
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode, urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
CSRF_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
RECEIPT_RE = re.compile(r'id="receipt-code">([0-9A-Z-]+)<')


# --- Database -----------------------------------------------------------------------------------------------


def db_urls(base_url: str, suffix: str) -> tuple[str, str, str]:
    """(admin URL, the bench database's URL, its name `<name>_<suffix>`) from DATABASE_URL."""
    parsed = urlparse(base_url)
    if parsed.scheme not in {"postgres", "postgresql"}:
        sys.exit(f"{Path(sys.argv[0]).name} needs DATABASE_URL=postgres://… (PostgreSQL)")
    name = (parsed.path.lstrip("/") or "pb") + "_" + suffix
    admin = urlunparse(parsed._replace(path="/postgres"))
    bench = urlunparse(parsed._replace(path="/" + name))
    return admin, bench, name


def recreate_db(admin_url: str, name: str, drop_only: bool = False) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop_only:
            conn.execute(f'CREATE DATABASE "{name}"')


def db_backends(admin_url: str, name: str) -> list[int]:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        return [r[0] for r in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (name,))]


def xacts(admin_url: str, name: str) -> int:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = %s", (name,)
        )
        return int(row.fetchone()[0])


def server_env(database_url: str, **extra: str) -> dict[str, str]:
    """The environment of the bench's Django processes: DEBUG off, plain HTTP, quiet logs."""
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url,
        DJANGO_SETTINGS_MODULE="pb.settings",
        DJANGO_SECRET_KEY="bench-secret-key-" + "x" * 40,
        DJANGO_DEBUG="0",
        DJANGO_SECURE_SSL_REDIRECT="0",
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        DJANGO_LOG_LEVEL="ERROR",
        PYTHONPATH=str(ROOT),
    )
    env.update(extra)
    return env


def audit_key(env: dict[str, str], directory: str) -> None:
    """Point the bench's processes at an audit key of their own in `directory` (with DEBUG off, opening
    voting signs an audit checkpoint and refuses without a key) and make it."""
    env["PB_AUDIT_KEY_FILE"] = str(Path(directory) / "audit.key")
    subprocess.run(
        [PY, "manage.py", "audit_keygen"], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL
    )


# --- The voting benches' election ---------------------------------------------------------------------------

VOTER_DOB = "1990-01-01"  # every voter's date of birth (roll match)


def voter_reference(index: int) -> str:
    """The reference of the index-th voter on the roll (ELECTION_SETUP makes them so)."""
    return f"J{index:07d}"


# Run in a subprocess with the bench's environment: argv N, date of birth. One citywide knapsack pot of 12
# projects, N voters on the roll (references voter_reference(i)), each with a one-time voting code, and the
# election moved to "voting open" through the normal phase change (so the roll snapshot and any sealing set-up
# run). Prints {"slug", "pot", "codes" (in roll order), "projects"} as JSON.
ELECTION_SETUP = r"""
import json, sys
import django
django.setup()
from django.db import transaction
from ballots.roll import entries as roll
from ballots.models import VoterRollEntry, VotingCode
from pb.core.models import Election, Phase, Pot, Role
from pb.core.services import election_advance
from proposals.models import Proposal, ProposalStatus
from django.contrib.auth.models import Group, User

n, dob = int(sys.argv[1]), sys.argv[2]
clerk = User.objects.create_user("bench-official", password=None)
clerk.groups.add(Group.objects.get_or_create(name=Role.OFFICIAL)[0])
e = Election.objects.create(name="Bench City PB", slug="bench", currency="EUR", min_age=None)
city = Pot.objects.create(election=e, name="Citywide", slug="city", is_citywide=True, budget=1_000_000)
for i in range(12):
    Proposal.objects.create(election=e, pot=city, code=f"P{i:02d}", title=f"Project {i}",
                            description="bench", cost=50_000 + 10_000 * i, status=ProposalStatus.FEASIBLE)
codes = []
with transaction.atomic():
    voters = VoterRollEntry.objects.bulk_create(
        [VoterRollEntry(election=e, ref_hash=roll.ref_hash(f"J{i:07d}"), birth_year=1990, district=city,
                        ref_dob_hash=roll.ref_dob_hash(f"J{i:07d}", dob)) for i in range(n)],
        batch_size=5000)
    rows = []
    for v in voters:
        plain = roll.new_code()
        codes.append(plain)
        rows.append(VotingCode(election=e, voter=v, code_hash=roll.code_hash(roll.normalize_code(plain))))
    VotingCode.objects.bulk_create(rows, batch_size=5000)
for phase in (Phase.PROPOSALS_OPEN, Phase.REVIEW, Phase.VOTING_OPEN):
    e = election_advance(actor=clerk, election=e, to_phase=phase)
json.dump({"slug": e.slug, "pot": "city", "codes": codes, "projects": [f"P{i:02d}" for i in range(12)]},
          sys.stdout)
"""

BALLOT_COUNT = r"""
import django, json
django.setup()
from django.db.models import Count
from ballots.models import Ballot, Participation, PendingBallot
twice = Participation.objects.values("voter", "pot").order_by().annotate(n=Count("id")).filter(n__gt=1)
# Cast ballots: sealed ones plus those still waiting (encrypted) for a batch of at least K.
cast = Ballot.objects.count() + PendingBallot.objects.count()
print(json.dumps({"ballots": cast, "participations": Participation.objects.count(),
                  "voters_with_two": twice.count()}))
"""


def voting_election(env: dict[str, str], voters: int) -> dict:
    """Make the voting benches' election (ELECTION_SETUP) in the bench's database."""
    out = subprocess.run(
        [PY, "-c", ELECTION_SETUP, str(voters), VOTER_DOB],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    ).stdout
    return json.loads(out)


def ballot_counts(env: dict[str, str]) -> dict:
    """{"ballots" (sealed + pending), "participations", "voters_with_two"} in the bench's database: one
    ballot and one participation per receipt, nobody twice."""
    out = subprocess.run(
        [PY, "-c", BALLOT_COUNT], cwd=ROOT, env=env, check=True, stdout=subprocess.PIPE, text=True
    )
    return json.loads(out.stdout)


# --- gunicorn -----------------------------------------------------------------------------------------------


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_http(host: str, port: int, proc: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit("gunicorn exited during start-up")
        try:
            conn = http.client.HTTPConnection(host, port, timeout=2)
            conn.request("GET", "/")
            conn.getresponse().read()
            conn.close()
            return
        except OSError:
            time.sleep(0.2)
    sys.exit(f"gunicorn did not answer within {seconds:.0f} s")


def gunicorn_start(
    env: dict[str, str],
    *,
    workers: int,
    threads: int = 1,
    host: str = "127.0.0.1",
    port: int = 0,
    cwd=ROOT,
    extra: tuple[str, ...] = (),
) -> tuple[subprocess.Popen, str, int]:
    """Start gunicorn (its own process group) serving pb from `cwd`; wait until it answers. `extra`: more
    gunicorn options (`--timeout 120`, `--keep-alive 30`)."""
    port = port or free_port(host)
    cmd = [str(Path(PY).parent / "gunicorn"), "pb.wsgi:application", "--bind", f"{host}:{port}"]
    cmd += [
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--backlog",
        "2048",
        "--log-level",
        "warning",
        *extra,
    ]
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, start_new_session=True)
    try:
        wait_http(host, port, proc)
    except BaseException:  # never leave a server behind
        gunicorn_stop(proc)
        raise
    return proc, host, port


def gunicorn_stop(proc: subprocess.Popen | None, timeout: float = 20) -> None:
    """Stop gunicorn, or any process started in a group of its own (a task worker): TERM, then KILL."""
    if proc is None or proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


# --- CPU from /proc -----------------------------------------------------------------------------------------


def cpu(pids) -> dict[int, float]:
    """User + system CPU seconds of each of these processes so far (Linux /proc; gone processes left out)."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[pid] = (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return out


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU spent between two readings: by processes seen both times, plus all of those that started since."""
    return sum(t - before.get(pid, 0.0) for pid, t in after.items())


def children(ppid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == ppid:
            out.append(int(stat.parent.name))
    return out


class ServerCPU:
    """CPU spent by gunicorn's workers and the bench database's backends, and by this process, between
    `start()` and `stop()` (backends that appeared meanwhile count in full: they started in the window)."""

    def __init__(self, gunicorn: subprocess.Popen, admin_url: str, db_name: str):
        self.gunicorn, self.admin_url, self.db_name = gunicorn, admin_url, db_name

    def start(self) -> None:
        self.app0 = cpu(children(self.gunicorn.pid))
        self.db0 = cpu(db_backends(self.admin_url, self.db_name))
        self.me0 = os.times()
        self.x0 = xacts(self.admin_url, self.db_name)

    def stop(self) -> dict[str, float]:
        me1 = os.times()
        app1, db1 = cpu(children(self.gunicorn.pid)), cpu(db_backends(self.admin_url, self.db_name))
        return {
            "app_cpu": cpu_delta(self.app0, app1),
            "db_cpu": cpu_delta(self.db0, db1),
            "client_cpu": (me1.user - self.me0.user) + (me1.system - self.me0.system),
            "xacts": xacts(self.admin_url, self.db_name) - self.x0,
        }


# --- Client -------------------------------------------------------------------------------------------------


class Client:
    """A tiny cookie-keeping HTTP/1.1 client over a plain socket (one per voter; a new connection per
    request, `Connection: close`, as a browser behind a proxy would look to gunicorn). Deliberately lean:
    the load generator shares the machine's cores with the server, so every millisecond it spends parsing
    (http.client parses headers with the email package) is taken from the server being measured."""

    timeout = 30  # seconds for a whole request

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.cookies: dict[str, str] = {}
        # Each voter comes from an address of their own, as behind the site's proxy (127.0.0.1 is a trusted
        # proxy by default): otherwise the identification throttle sees one address doing everything.
        self.addr = f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"

    def request(self, method: str, path: str, form: list[tuple[str, str]] | None = None):
        """A browser's request from the voter's own address; `form`: a urlencoded POST body."""
        headers = {"X-Forwarded-For": self.addr}
        body = b""
        if form is not None:
            body = urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        return self.raw(method, path, body, headers)

    def raw(self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None):
        """(status, Location, text) of one request with these headers and body; keeps the cookies."""
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}", "Connection: close"]
        head += [f"{k}: {v}" for k, v in (headers or {}).items()]
        if self.cookies:
            head.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
        if body or method == "POST":
            head.append(f"Content-Length: {len(body)}")
        data = ("\r\n".join(head) + "\r\n\r\n").encode() + body
        with socket.create_connection((self.host, self.port), timeout=self.timeout) as sock:
            sock.sendall(data)
            chunks = []
            while True:
                got = sock.recv(65536)
                if not got:
                    break
                chunks.append(got)
        raw = b"".join(chunks)
        header_bytes, _, payload = raw.partition(b"\r\n\r\n")
        lines = header_bytes.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        location, chunked = "", False
        for line in lines[1:]:
            key, _, value = line.partition(":")
            key, value = key.strip().lower(), value.strip()
            if key == "set-cookie":
                name, _, rest = value.partition("=")
                self.cookies[name.strip()] = rest.split(";", 1)[0]
            elif key == "location":
                location = value
            elif key == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
        if chunked:
            payload = _dechunk(payload)
        return status, location, payload.decode("utf-8", "replace")


def _dechunk(data: bytes) -> bytes:
    out, pos = [], 0
    while True:
        end = data.index(b"\r\n", pos)
        size = int(data[pos:end].split(b";")[0], 16)
        if size == 0:
            return b"".join(out)
        out.append(data[end + 2 : end + 2 + size])
        pos = end + 2 + size + 2


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


# --- In-process benches (bench/api.py, bench/results.py) ----------------------------------------------------


@contextlib.contextmanager
def django_throwaway(name: str):
    """Django set up in this process on a throw-away database (SQLite: a file in a temp dir; PostgreSQL, from
    DATABASE_URL: "<name>_bench_<name>") with the TEST ONLY keys of fixtures/keys. Yields (the temp dir, the
    keys' dir); drops the database and the temp dir after. DJANGO_SETTINGS_MODULE must be set, and Django's
    settings not read yet."""
    # Background work (the count, a certification) runs in this process, where the bench times it.
    os.environ.setdefault("PB_TASKS_BACKEND", "immediate")
    import django
    from django.conf import settings

    tmp = Path(tempfile.mkdtemp(prefix=f"pb-bench-{name}-"))
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        db["TEST"] = {"NAME": str(tmp / "bench.sqlite3")}
    else:
        db["TEST"] = {"NAME": f"{db['NAME']}_bench_{name}"}
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
    try:
        yield tmp, keys
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        for p in sorted(tmp.rglob("*"), reverse=True):
            if p.is_file():
                p.chmod(0o644)  # the signed files are made read-only
                p.unlink()
            else:
                p.rmdir()
        tmp.rmdir()


def results_election(rnd: random.Random, projects: int, voters: int, *, city_voters: int = 0, **fields):
    """An election with a citywide pot of `projects` feasible projects and a district pot ("north") of a
    third as many (at least 5, cheaper), `voters` on the roll (every fourth in the north) and then
    `city_voters` more in the citywide pot, opened for voting by the first of three officials. Returns
    (election, city, north, codes: {pot id: [(project code, cost)]}, officials, council)."""
    from ballots.models import VoterRollEntry
    from pb.core.models import Election, Phase, Pot, Role
    from pb.core.services import election_advance
    from proposals.models import Proposal, ProposalStatus
    from tests.factories import UserFactory

    election = Election.objects.create(name="Bench City PB", slug="bench", city="Bench", **fields)
    city = Pot.objects.create(
        election=election, name="Citywide", slug="city", is_citywide=True, budget=5_000_000
    )
    north = Pot.objects.create(election=election, name="North", slug="north", budget=1_000_000)
    codes: dict[int, list[tuple[str, int]]] = {}
    for pot, k in ((city, projects), (north, max(5, projects // 3))):
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
    districts = [city if n % 4 else north for n in range(voters)] + [city] * city_voters
    VoterRollEntry.objects.bulk_create(
        [
            VoterRollEntry(
                election=election,
                ref_hash=f"{n:064x}",
                ref_dob_hash=f"{n:064x}",
                district=pot,
                birth_year=rnd.randint(1930, 2010),  # the statistics' age bands are full size
            )
            for n, pot in enumerate(districts)
        ],
        batch_size=5000,
    )
    officials = [UserFactory(username=f"o{i}", roles=[Role.OFFICIAL]) for i in range(3)]
    council = UserFactory(username="council", roles=[Role.COUNCIL])
    for phase in (Phase.PROPOSALS_OPEN, Phase.REVIEW, Phase.VOTING_OPEN):
        election = election_advance(actor=officials[0], election=election, to_phase=phase)
    return election, city, north, codes, officials, council


def roll_ids(election, *, start: int = 0, stop: int | None = None) -> list[tuple[int, int]]:
    """(voter id, district id) of the roll's entries, in the order results_election made them."""
    from ballots.models import VoterRollEntry

    roll = VoterRollEntry.objects.filter(election=election).order_by("pk").values_list("pk", "district_id")
    return list(roll[start:stop])


def synthetic_ballots(
    election, city, north, codes: dict[int, list[tuple[str, int]]], rnd: random.Random, voters: int
) -> int:
    """The first `voters` on the roll (results_election) vote online: a random ballot by per-project
    popularity and its participation, pending then sealed in batches of 2000 as casting would (casting seals
    after every commit; 2000 at a time keeps the setup short). The last batch is left pending (the caller
    seals it). Returns how many batches were sealed."""
    from ballots.ballotbox.sealing import ballots_seal_pending
    from ballots.models import Participation, PendingBallot

    weights = {pk: [rnd.random() ** 2 for _ in c] for pk, c in codes.items()}
    pots = {city.pk: city, north.pk: north}
    pending, participations, seals = [], [], 0
    for n, (voter_id, district_id) in enumerate(roll_ids(election, stop=voters)):
        pot = pots[district_id]
        chosen = random_ballot(rnd, pot, codes[pot.pk], weights[pot.pk])
        participations.append(online_participation(election, pot, voter_id, day_offset=rnd.randrange(7)))
        receipt = hashlib.sha256(f"pb-receipt:{n}".encode()).hexdigest()
        pending.append(pending_ballot(election, pot, chosen, receipt))
        if len(pending) == 2000:
            Participation.objects.bulk_create(participations)
            PendingBallot.objects.bulk_create(pending)
            pending, participations = [], []
            ballots_seal_pending(election_id=election.pk)
            seals += 1
    Participation.objects.bulk_create(participations)
    PendingBallot.objects.bulk_create(pending)
    return seals


def random_ballot(rnd: random.Random, pot, codes: list[tuple[str, int]], weights: list[float]) -> list[str]:
    """1 to 6 projects drawn by popularity (`weights`), each kept if it still fits the budget; sorted."""
    chosen, spent = [], 0
    for code, cost in rnd.choices(codes, weights=weights, k=rnd.randint(1, 6)):
        if code not in chosen and spent + cost <= pot.budget:
            chosen.append(code)
            spent += cost
    return sorted(chosen)


def online_participation(election, pot, voter_id: int, day_offset: int = 0):
    """That this voter voted online in this pot (on the `day_offset`-th day of the vote): the half of a cast
    that names the voter (ballots.casting)."""
    from ballots.models import Channel, Participation

    day = dt.date(2026, 6, 10) + dt.timedelta(days=day_offset)
    return Participation(election=election, pot=pot, voter_id=voter_id, channel=Channel.ONLINE, day=day)


def pending_ballot(election, pot, projects: list[str], receipt: str):
    """A ballot as ballot_cast stores it: pending (encrypted) until sealed."""
    from ballots.ballotbox import pending as pending_ballots
    from ballots.models import PendingBallot

    row = pending_ballots.row(
        election_id=election.pk,
        pot_id=pot.pk,
        projects=projects,
        points={},
        is_paper=False,
        receipt_hash=receipt,
    )
    return PendingBallot(id=row["id"], election=election, pot=pot, content=row["content"])
