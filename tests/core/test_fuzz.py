"""A bounded, seeded fuzzer over every page and form: no input may give a 500.

It walks the URLconf, fills each route with real and garbage values, and for every role (anonymous,
resident, identified voter, official, council) GETs the page with a garbage query string, reads the forms
the page really shows, and POSTs mutated values to each: NUL bytes, huge strings, wrong types, lists,
garbage files (image bombs, broken CSV/XLSX, random bytes). Every route also gets a blind POST of random
fields. Deterministic for a seed (PB_FUZZ_SEED); about 40 s on SQLite.
"""

from __future__ import annotations

import io
import os
import random
import re
import struct
import time
import uuid
import zlib
from html.parser import HTMLParser

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.signals import got_request_exception
from django.test import Client
from django.urls import URLResolver, get_resolver

from pb.core.models import Phase
from tests.ballots.cast_support import build_voting, identify
from tests.factories import (
    CategoryFactory,
    ElectionFactory,
    PotFactory,
    ProposalFactory,
    UserFactory,
    council,
    official,
)

SEED = int(os.environ.get("PB_FUZZ_SEED", "20261207"))
POSTS_PER_FORM = 2
SKIP_PREFIXES = ("admin/", "^media/", "i18n/")  # Django's own admin and static serving; not ours


# --- Inputs -------------------------------------------------------------------------------------------------


def _png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def _jpeg_cut() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 48), "red").save(buf, "JPEG")
    return buf.getvalue()[:300]


FILES = [
    ("bomb.png", _png(100_000, 100_000)),
    ("warn.png", _png(12_000, 12_000)),
    ("tiny.png", _png(2, 2)),
    ("cut.jpg", _jpeg_cut()),
    ("big-field.csv", b"reference,title\nA,b\n" + b"X" * 140_000 + b",c\n"),
    ("latin1.csv", "reference,title\nCafé,é\n".encode("latin-1")),
    ("nul.csv", b"reference\x00,title\nA\x00,b\n"),
    ("fake.xlsx", b"PK\x03\x04 this is not a workbook"),
    ("empty.csv", b""),
    ("random.bin", bytes(range(256)) * 8),
    ("result.pdf", b"%PDF-1.7\n%garbage\n" + os.urandom(64)),
    ("result.json", b'{"north": {"selected": [1, 2, "\\u0000"]}, "x": 1e999}'),
    ("../../etc/passwd", b"root:x:0:0"),
]

TEXTS = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "%00",
    "x" * 100_000,
    "é" * 20_000,
    "-1",
    "0",
    "1e309",
    "99999999999999999999999999999",
    "NaN",
    "-0.000001",
    "12.5",
    "2026-02-30",
    "9999-12-31",
    "../../etc/passwd",
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    '=HYPERLINK("http://evil")',
    "\u202eevil\u202c",
    "🗳️" * 50,
    "null",
    "true",
    "[]",
    "{}",
    str(uuid.uuid4()),
]


def _value(rng: random.Random, field: dict):
    choice = rng.random()
    options = field.get("options") or []
    if choice < 0.25 and options:
        return rng.choice(options)
    if choice < 0.35 and field.get("value") is not None:
        return field["value"]
    if choice < 0.42:
        return [rng.choice(TEXTS) for _ in range(rng.randint(2, 4))]  # a list where one value is expected
    return rng.choice(TEXTS)


def _file(rng: random.Random):
    name, data = rng.choice(FILES)
    return SimpleUploadedFile(name, data)


# --- Forms as the page shows them ---------------------------------------------------------------------------


class FormParser(HTMLParser):
    def __init__(self):
        super().__init__()
        self.forms: list[dict] = []
        self._form: dict | None = None
        self._select: dict | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self._form = {
                "method": (a.get("method") or "get").lower(),
                "action": a.get("action"),
                "fields": [],
            }
            self.forms.append(self._form)
        elif self._form is None or not a.get("name"):
            return
        elif tag == "input":
            kind = (a.get("type") or "text").lower()
            self._form["fields"].append({"name": a["name"], "type": kind, "value": a.get("value")})
        elif tag == "textarea":
            self._form["fields"].append({"name": a["name"], "type": "text", "value": ""})
        elif tag == "select":
            self._select = {"name": a["name"], "type": "select", "options": []}
            self._form["fields"].append(self._select)
        elif tag == "button":
            self._form["fields"].append({"name": a["name"], "type": "button", "value": a.get("value", "")})

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None


def _forms(html: str) -> list[dict]:
    parser = FormParser()
    parser.feed(html)
    # A select's options: a regex over the page is enough.
    for form in parser.forms:
        for field in form["fields"]:
            if field["type"] == "select":
                block = re.search(
                    r'<select[^>]*name="' + re.escape(field["name"]) + r'"[^>]*>(.*?)</select>', html, re.S
                )
                if block:
                    field["options"] = re.findall(r'<option[^>]*value="([^"]*)"', block.group(1))
    return [f for f in parser.forms if f["method"] == "post"]


# --- Routes -------------------------------------------------------------------------------------------------


def _routes():
    def walk(patterns, prefix=""):
        for p in patterns:
            if isinstance(p, URLResolver):
                yield from walk(p.url_patterns, prefix + str(p.pattern))
            else:
                yield prefix + str(p.pattern)

    return [r for r in walk(get_resolver().url_patterns) if not r.startswith(SKIP_PREFIXES)]


CONVERTER = re.compile(r"<(?:(\w+):)?(\w+)>")


def _fill(route: str, rng: random.Random, world: dict, election: str | None = None) -> str:
    def one(match):
        kind, name = match.group(1) or "str", match.group(2)
        if rng.random() < 0.1:  # garbage of the right shape
            return {"int": str(rng.randint(0, 10**12)), "uuid": str(uuid.uuid4())}.get(kind, "zz-nothing")
        if name == "slug":
            return election or rng.choice(world["elections"])
        if name == "pot_slug":
            return rng.choice(world["pots"])
        if name == "code":
            return rng.choice(world["codes"])
        if kind == "fmt":
            return rng.choice(["csv", "xlsx"])
        if kind == "uuid":
            return str(uuid.uuid4())
        if kind == "int":
            return str(rng.choice([1, 2, 0]))
        if name == "action":
            return rng.choice(["close", "count", "signoff", "certify", "publish", "zz"])
        return rng.choice(["ballots-city.pb", "result.pdf", "x", "..%2F..%2Fsettings.py"])

    return "/" + CONVERTER.sub(one, route)


def _garbage_query(rng: random.Random) -> dict:
    return {
        rng.choice(["q", "pot", "status", "cost_min", "page", "format", "sort", "lang"]): _value(rng, {})
        for _ in range(rng.randint(1, 4))
    }


# --- The run ------------------------------------------------------------------------------------------------


@pytest.fixture
def world(settings, tmp_path):
    settings.PB_VAR_DIR = tmp_path / "var"
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PB_PUBLIC_URL = "https://pb.example.org"
    settings.PB_VERIFY_RATE_COUNT = 10**6  # the fuzzer is one client; the limiter has its own tests
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    voting = build_voting()
    proposing = ElectionFactory(phase=Phase.PROPOSALS_OPEN, slug="fuzz-proposals")
    pot = PotFactory(election=proposing, slug="north", name="North")
    CategoryFactory(election=proposing, slug="parks", name="Parks")
    resident = UserFactory(username="fuzz-resident")
    ProposalFactory(pot=pot, code="P001", author=resident, status="draft")
    ProposalFactory(pot=pot, code="P002")
    reviewing = ElectionFactory(phase=Phase.REVIEW, slug="fuzz-review")
    PotFactory(election=reviewing, slug="south", name="South")
    ProposalFactory(pot=reviewing.pots.get(), code="P001", status="submitted")
    return {
        "voting": voting,
        "resident": resident,
        "official": official(username="fuzz-official"),
        "council": council(username="fuzz-council"),
        "elections": [voting.election.slug, proposing.slug, reviewing.slug],
        "pots": ["city", "mokotow", "green", "youth", "north"],
        "codes": ["P001", "P002", "C1", "M1", "nope"],
    }


def _login(client: Client, role: str, world: dict) -> None:
    client.logout()
    if role in ("resident", "official", "council"):
        client.force_login(world[role])
    if role == "voter":
        identify(client, world["voting"].election, world["voting"].voter)


@pytest.mark.django_db
def test_no_input_gives_a_500(world):
    rng = random.Random(SEED)
    client = Client(raise_request_exception=False)
    failures: list[str] = []
    requests = 0
    started = time.monotonic()

    errors: list[str] = []

    def record(sender, request=None, **kwargs):
        import traceback

        errors.append(
            "".join(
                ln
                for ln in traceback.format_exc().splitlines(keepends=True)
                if "/work/main/" in ln and ".venv" not in ln
            )[-600:]
            + traceback.format_exc().splitlines()[-1]
        )

    got_request_exception.connect(record)
    request_finished_cleanup = lambda: got_request_exception.disconnect(record)  # noqa: E731

    def check(method: str, url: str, response, detail: str = "") -> None:
        nonlocal requests
        requests += 1
        if response.status_code >= 500:
            cause = errors[-1] if errors else ""
            failures.append(f"{response.status_code} {method} {url} {detail}"[:300] + "\n" + cause[-700:])

    def fuzz_page(role: str, url: str) -> None:
        if rng.random() < 0.25:
            check("GET?", url, client.get(url, _garbage_query(rng)))
        response = client.get(url)
        check("GET", url, response)
        forms = []
        if response.status_code == 200 and "html" in response.get("Content-Type", ""):
            forms = _forms(response.content.decode("utf-8", "replace"))[:4]
        for form in forms:
            target = form["action"] or url
            has_file = any(f["type"] == "file" for f in form["fields"])
            # A form with a file input gets every garbage file once; others a few rounds of garbage.
            for i in range(len(FILES) if has_file else POSTS_PER_FORM):
                data = {}
                for field in form["fields"]:
                    if field["type"] == "file":
                        name, content = FILES[i % len(FILES)]
                        data[field["name"]] = SimpleUploadedFile(name, content)
                    elif field["name"] != "csrfmiddlewaretoken" and rng.random() < 0.9:
                        data[field["name"]] = _value(rng, field)
                response = client.post(target, data)
                check("POST", target, response, repr({k: str(v)[:40] for k, v in data.items()}))
                _login(client, role, world)
        # A blind POST of random fields (and a file) to half the routes, with or without a form.
        if rng.random() < 0.5:
            return
        blind = {
            rng.choice(["title", "code", "reference", "file", "pdf", "x"]): _value(rng, {}) for _ in range(3)
        }
        blind["upload"] = _file(rng)
        response = client.post(url, blind)
        check("POST*", url, response, repr({k: str(v)[:40] for k, v in blind.items()}))

    routes = _routes()
    assert len(routes) > 40  # the walk found the site
    for role in ("anonymous", "resident", "voter", "official", "council"):
        for route in routes:
            if role == "voter" and not route.startswith(("vote/", "results/")):
                continue  # an identified voter differs from anonymous only where votes are cast
            # Every election for a route that names one (their phases differ: different forms show), for
            # the roles that have forms there; one at random for the others.
            every = "<slug:slug>" in route and role in ("resident", "official")
            for election in world["elections"] if every else [None]:
                _login(client, role, world)
                url = _fill(route, rng, world, election)
                fuzz_page(role, url)
    request_finished_cleanup()
    elapsed = time.monotonic() - started
    request_finished_cleanup()
    elapsed = time.monotonic() - started
    print(f"fuzz: seed {SEED}, {requests} requests over {len(routes)} routes in {elapsed:.1f} s")
    assert not failures, "\n".join(failures)
