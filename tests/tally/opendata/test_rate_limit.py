"""Per-client rate limits of the open data API: 429 with Retry-After past the limit, counted per client
address as pb.core.clientip gives it (a forged X-Forwarded-For buys no fresh budget), exact under races."""

from __future__ import annotations

import threading

import pytest
from django.test import RequestFactory

from tally.opendata.http import rate_limit_wait
from tests.tally.opendata.conftest import check_response, openapi_doc


@pytest.fixture
def limited(settings):
    settings.PB_API_RATE_COUNT = 5
    settings.PB_API_RATE_WINDOW = 60
    settings.PB_TRUSTED_PROXIES = ["10.0.0.1"]


def hit(client, url, addr, **headers):
    return client.get(url, REMOTE_ADDR=addr, headers=headers)


def test_past_the_limit_429_with_retry_after_for_that_client_only(published, client, limited):
    url = f"/api/v1/elections/{published.election.slug}/results"
    for _ in range(5):
        assert hit(client, url, "198.51.100.7").status_code == 200
    r = hit(client, url, "198.51.100.7")
    assert r.status_code == 429
    assert 1 <= int(r["Retry-After"]) <= 60
    assert r["Access-Control-Allow-Origin"] == "*", "a browser script can read why"
    check_response(
        openapi_doc(client.__class__(REMOTE_ADDR="192.0.2.200")), "/api/v1/elections/{slug}/results", r
    )
    # Every route shares the client's budget: a conditional GET, a CSV, the OpenAPI document.
    assert hit(client, url + ".csv", "198.51.100.7").status_code == 429
    assert hit(client, "/api/v1/openapi.json", "198.51.100.7").status_code == 429
    assert hit(client, url, "198.51.100.7", if_none_match="*").status_code == 429
    # Another client is not affected.
    assert hit(client, url, "198.51.100.8").status_code == 200


def test_forged_forwarded_for_buys_no_fresh_budget(published, client, limited):
    url = f"/api/v1/elections/{published.election.slug}/pots"
    for i in range(5):
        assert hit(client, url, "203.0.113.9", x_forwarded_for=f"192.0.2.{i}").status_code == 200
    assert hit(client, url, "203.0.113.9", x_forwarded_for="192.0.2.99").status_code == 429


def test_clients_behind_the_trusted_proxy_are_counted_apart(published, client, limited):
    url = f"/api/v1/elections/{published.election.slug}/pots"
    for _ in range(5):
        assert hit(client, url, "10.0.0.1", x_forwarded_for="192.0.2.1").status_code == 200
    assert hit(client, url, "10.0.0.1", x_forwarded_for="192.0.2.1").status_code == 429
    assert hit(client, url, "10.0.0.1", x_forwarded_for="192.0.2.2").status_code == 200
    # The client's own left-most entry is ignored: only what the proxy appended counts.
    assert hit(client, url, "10.0.0.1", x_forwarded_for="9.9.9.9, 192.0.2.1").status_code == 429


def test_ipv6_counted_per_64(published, client, limited):
    url = f"/api/v1/elections/{published.election.slug}/pots"
    for i in range(5):
        assert hit(client, url, f"2001:db8:1:2::{i + 1}").status_code == 200
    assert hit(client, url, "2001:db8:1:2:ffff::1").status_code == 429
    assert hit(client, url, "2001:db8:1:3::1").status_code == 200


def test_new_window_new_budget(published, client, limited, monkeypatch):
    import tally.opendata.http as http

    now = [999_999_980.0]  # 20 s into a 60 s window
    monkeypatch.setattr(http.time, "time", lambda: now[0])
    url = f"/api/v1/elections/{published.election.slug}/pots"
    for _ in range(5):
        assert hit(client, url, "198.51.100.20").status_code == 200
    r = hit(client, url, "198.51.100.20")
    assert r.status_code == 429 and r["Retry-After"] == "40"
    now[0] += 40
    assert hit(client, url, "198.51.100.20").status_code == 200


def test_concurrent_requests_never_pass_the_limit(db, settings):
    """Twenty threads race for ten slots: exactly ten get through (add/incr are atomic)."""
    settings.PB_API_RATE_COUNT = 10
    settings.PB_API_RATE_WINDOW = 3600
    request = RequestFactory().get("/api/v1/elections", REMOTE_ADDR="198.51.100.50")
    start = threading.Barrier(20)
    waits: list[int] = []
    lock = threading.Lock()

    def go():
        start.wait()
        w = rate_limit_wait(request)
        with lock:
            waits.append(w)

    threads = [threading.Thread(target=go) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(waits)[:10] == [0] * 10 and all(w > 0 for w in sorted(waits)[10:])
