"""What every open data response gets, around the django-ninja views (tally.opendata.urls wraps each route):

- a per-client rate limit (PB_API_RATE_COUNT requests per PB_API_RATE_WINDOW seconds per address, the
  address from pb.core.clientip so PB_TRUSTED_PROXIES is honoured, IPv6 per /64), counted in Django's
  cache with an atomic add/incr (two concurrent requests never both take the last slot); over it: 429 with
  Retry-After;
- CORS for reads: `Access-Control-Allow-Origin: *` on GET and HEAD (no credentials: the API reads no cookie
  and serves only public data), preflights answered for GET only;
- an ETag from the SHA-256 of the body and `If-None-Match` answered 304, so clients re-read only what changed.
"""

from __future__ import annotations

import functools
import hashlib
import json
import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpResponse
from django.utils.cache import get_conditional_response, patch_vary_headers

from ballots.roll.throttle import client_key
from pb.core.clientip import client_ip

READ_METHODS = ("GET", "HEAD")


def _limits() -> tuple[int, int]:
    return int(settings.PB_API_RATE_COUNT), max(1, int(settings.PB_API_RATE_WINDOW))


def rate_limit_wait(request) -> int:
    """Count the request for its client; 0 if it may go on, else the seconds until its window ends."""
    limit, window = _limits()
    now = time.time()
    start = int(now // window) * window  # fixed windows, the same for every process sharing the cache
    key = f"pb-api-rate:{client_key(client_ip(request))}:{start}"  # IPv6 counted per /64
    # add() creates the counter only if absent and incr() is atomic on every shared cache backend (memcached,
    # Redis, the database and local-memory caches): concurrent requests each count exactly once.
    if cache.add(key, 1, window + 5):
        count = 1
    else:
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr: this is the first request of a new window
            cache.add(key, 1, window + 5)
            count = 1
    if count <= limit:
        return 0
    return max(1, int(start + window - now + 0.999))


def _json_error(status: int, detail: str) -> HttpResponse:
    return HttpResponse(json.dumps({"detail": detail}), status=status, content_type="application/json")


def _cors(response: HttpResponse) -> HttpResponse:
    response["Access-Control-Allow-Origin"] = "*"
    response["Access-Control-Expose-Headers"] = "ETag, Retry-After"
    return response


def open_data_view(view):
    """Wrap one API route: rate limit, preflight, HEAD as GET without a body, ETag and 304, CORS."""

    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        if request.method == "OPTIONS":
            response = HttpResponse(status=204)
            response["Access-Control-Allow-Methods"] = "GET, HEAD"
            response["Access-Control-Allow-Headers"] = "If-None-Match"
            response["Access-Control-Max-Age"] = "86400"
            response["Allow"] = "GET, HEAD, OPTIONS"
            return _cors(response)
        if request.method not in READ_METHODS:
            response = _json_error(405, "This API is read-only.")
            response["Allow"] = "GET, HEAD, OPTIONS"
            return response
        wait = rate_limit_wait(request)
        if wait:
            response = _json_error(429, "Too many requests: wait, then try again.")
            response["Retry-After"] = str(wait)
            return _cors(response)
        head = request.method == "HEAD"
        if head:
            request.method = "GET"  # django-ninja routes GET only; the body is dropped below
        response = view(request, *args, **kwargs)
        if head:
            request.method = "HEAD"
        if response.status_code == 200 and not response.streaming:
            etag = '"' + hashlib.sha256(response.content).hexdigest()[:40] + '"'
            response["ETag"] = etag
            # Public data: any cache may keep it, but must ask again (a cheap 304) before reusing it.
            response["Cache-Control"] = "public, no-cache"
            response = get_conditional_response(request, etag=etag, response=response) or response
        patch_vary_headers(response, ["Accept-Encoding"])
        if head and not response.streaming:
            response["Content-Length"] = str(len(response.content))
            response.content = b""
        return _cors(response)

    # The API reads no cookie and changes nothing: no CSRF token to check (POST etc. are answered 405 above).
    wrapped.csrf_exempt = True
    return wrapped
