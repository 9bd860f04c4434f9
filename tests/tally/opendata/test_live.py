"""The OpenAPI check against the live test server (real HTTP, a threaded server in its own thread): the
document it serves validates, and every route's answers, including a 304, a 404 and a 429, are what it
documents."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from openapi_spec_validator import validate

from tests.tally.conftest import World
from tests.tally.opendata.conftest import check_response, endpoints

pytestmark = pytest.mark.django_db(transaction=True)


class Answer:
    """What check_response needs of an HTTP answer."""

    def __init__(self, status: int, headers, body: bytes):
        self.status_code, self.headers, self.content = status, headers, body

    def __getitem__(self, name):
        return self.headers[name]


def fetch(base: str, path: str, **headers) -> Answer:
    request = urllib.request.Request(base + path, headers=headers)  # noqa: S310 - the local test server
    try:
        with urllib.request.urlopen(request, timeout=30) as r:  # noqa: S310
            return Answer(r.status, r.headers, r.read())
    except urllib.error.HTTPError as e:
        return Answer(e.code, e.headers, e.read())


def test_openapi_against_the_live_server(live_server, keys, settings):
    settings.PB_API_RATE_COUNT = 100_000
    world = World()
    world.through_certify()
    world.publish()
    base = live_server.url
    doc = json.loads(fetch(base, "/api/v1/openapi.json").content)
    validate(doc)
    slug = world.election.slug
    for template, url in endpoints(doc, slug=slug, code="N1"):
        ok = fetch(base, url)
        assert ok.status_code == 200, url
        check_response(doc, template, ok)
        assert ok["Access-Control-Allow-Origin"] == "*"
        again = fetch(base, url, **{"If-None-Match": ok["ETag"]})
        assert again.status_code == 304 and again.content == b""
        if "{slug}" in template:
            check_response(doc, template, fetch(base, url.replace(slug, "zz-none", 1)))
    settings.PB_API_RATE_COUNT = 0
    limited = fetch(base, f"/api/v1/elections/{slug}/results")
    assert limited.status_code == 429 and int(limited["Retry-After"]) >= 1
    check_response(doc, "/api/v1/elections/{slug}/results", limited)
