"""The open data API (`/api/v1/`, docs/api.md): read-only JSON and CSV of published elections.

Only elections whose results are published (phase "published", the last one) are reachable, and of them only
what the public pages already show: the election, its pots, its public proposals, the certified result with
its explanations and the turnout with cells under the anonymity set K merged. Everything here reads; nothing
writes except the rate-limit counters in Django's cache.

selectors.py  what is public, as plain dicts (the one place that decides)
schemas.py    the response shapes (pydantic): they are the OpenAPI document
views.py      the django-ninja routes, JSON and CSV
http.py       what every API response gets: rate limit, CORS for reads, ETag / If-None-Match
embed.py      the small result page for a city's own website (an iframe)
"""
