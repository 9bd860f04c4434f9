"""The routes of /api/v1/ (django-ninja: pydantic schemas give the OpenAPI 3 document and the validation of
query parameters; our own wrapper in http.py adds the rate limit, CORS and ETags to every route).

Every route first resolves a *published* election (selectors.published_election): an election in any other
phase answers 404, the same as one that does not exist. Tracking of funded projects (issue #13) has no data
yet: its route will be added here as /elections/{slug}/tracking once the tracking app exists (docs/api.md).
"""

from __future__ import annotations

import csv
import io
import json

from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpResponse
from ninja import NinjaAPI, Query, Schema
from ninja.errors import ValidationError
from pydantic import Field

from pb.core.spreadsheet import safe_row
from tally.opendata import schemas, selectors

api = NinjaAPI(
    title="pb open data",
    version="1",
    description=(
        "Read-only data of published participatory-budgeting elections: the elections, their pots, public "
        "proposals, certified results with their explanations and turnout (cells under the anonymity set "
        "merged). Nothing is served before an election's results are published. See docs/api.md."
    ),
    urls_namespace="api-v1",
    docs_url=None,  # the interactive page loads scripts from elsewhere, which our CSP forbids
    openapi_url="/openapi.json",
)

ERRORS = {400: schemas.ErrorOut, 404: schemas.ErrorOut, 422: schemas.ErrorOut, 429: schemas.ErrorOut}
CSV_RESPONSE = {
    "responses": {
        "200": {
            "description": "CSV (UTF-8, header row)",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    }
}


class PageQuery(Schema):
    cursor: str | None = Field(
        None, max_length=300, description="Opaque; taken from the previous page's `next` link."
    )
    limit: int = Field(50, ge=1, le=200)


@api.exception_handler(selectors.BadCursor)
def _bad_cursor(request, exc):
    return api.create_response(request, {"detail": str(exc)}, status=400)


@api.exception_handler(ValidationError)
def _invalid(request, exc):
    return api.create_response(request, {"detail": exc.errors}, status=422)


def _body(schema, data) -> bytes:
    """Checked against its schema, then written canonically: the same bytes every time for the same data,
    so the ETag (a hash of the body) only changes when the data does."""
    body = schema.model_validate(data).model_dump(mode="json")
    text = json.dumps(body, cls=DjangoJSONEncoder, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return text.encode()


def _json(schema, data) -> HttpResponse:
    return HttpResponse(_body(schema, data), content_type="application/json")


def _json_fixed(kind: str, election, schema, read) -> HttpResponse:
    """For what a published election never changes again (its count, its turnout): the JSON is built once
    and then served from the cache (bench/api.py: the difference between ~X ms and ~Y ms a request)."""
    body = selectors.cached(kind + "-json", election, lambda: _body(schema, read(election)))
    return HttpResponse(body, content_type="application/json")


def _next_url(request, cursor: str | None) -> str | None:
    if cursor is None:
        return None
    query = request.GET.copy()
    query["cursor"] = cursor
    return request.path + "?" + query.urlencode()


def _csv(name: str, header: list[str], rows) -> HttpResponse:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(safe_row(row))  # a resident's "=HYPERLINK(...)" stays text (pb.core.spreadsheet)
    response = HttpResponse(out.getvalue().encode(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


# --- elections ---------------------------------------------------------------------------------------------


@api.get("/elections", response={200: schemas.ElectionPage, **ERRORS}, tags=["elections"])
def elections(request, page: Query[PageQuery]):
    """Published elections by slug, a page at a time (cursor pagination)."""
    rows, cursor = selectors.page_after(
        selectors.published_elections(), field="slug", cursor=page.cursor, limit=page.limit
    )
    data = {"results": [selectors.election_public(e) for e in rows], "next": _next_url(request, cursor)}
    return _json(schemas.ElectionPage, data)


@api.get("/elections.csv", response={**ERRORS}, openapi_extra=CSV_RESPONSE, tags=["csv"])
def elections_csv(request):
    """All published elections as CSV."""
    header = ["slug", "name", "city", "currency", "rule", "certified_at", "manifest_sha256"]
    rows = (
        [e[k] for k in header]
        for e in map(selectors.election_public, selectors.published_elections().order_by("slug"))
    )
    return _csv("elections.csv", header, rows)


@api.get("/elections/{slug}", response={200: schemas.ElectionOut, **ERRORS}, tags=["elections"])
def election(request, slug: str):
    return _json(schemas.ElectionOut, selectors.election_public(selectors.published_election(slug)))


# --- pots --------------------------------------------------------------------------------------------------

POT_COLUMNS = [
    "slug",
    "name",
    "is_citywide",
    "budget",
    "ballot_type",
    "min_selections",
    "max_selections",
    "points_total",
    "points_max_per_project",
]


@api.get("/elections/{slug}/pots", response={200: schemas.PotList, **ERRORS}, tags=["pots"])
def pots(request, slug: str):
    """The election's pots (districts and the citywide pot) with their budgets and ballot rules."""
    return _json(schemas.PotList, {"results": selectors.pots_public(selectors.published_election(slug))})


@api.get("/elections/{slug}/pots.csv", response={**ERRORS}, openapi_extra=CSV_RESPONSE, tags=["csv"])
def pots_csv(request, slug: str):
    election = selectors.published_election(slug)
    rows = ([p[k] for k in POT_COLUMNS] for p in selectors.pots_public(election))
    return _csv(f"{slug}-pots.csv", POT_COLUMNS, rows)


# --- proposals ---------------------------------------------------------------------------------------------

PROPOSAL_COLUMNS = [
    "code",
    "title",
    "pot",
    "category",
    "status",
    "cost",
    "adjusted_cost",
    "cost_note",
    "location",
    "latitude",
    "longitude",
    "review_reason",
    "merged_into",
    "language",
    "description",
]


@api.get("/elections/{slug}/proposals", response={200: schemas.ProposalPage, **ERRORS}, tags=["proposals"])
def proposals(request, slug: str, page: Query[PageQuery]):
    """Public proposals (all but drafts), by project id, a page at a time; public fields only."""
    election = selectors.published_election(slug)
    rows, cursor = selectors.page_after(
        selectors.proposals_public(election), field="code", cursor=page.cursor, limit=page.limit
    )
    data = {"results": [selectors.proposal_public(p) for p in rows], "next": _next_url(request, cursor)}
    return _json(schemas.ProposalPage, data)


@api.get("/elections/{slug}/proposals.csv", response={**ERRORS}, openapi_extra=CSV_RESPONSE, tags=["csv"])
def proposals_csv(request, slug: str):
    election = selectors.published_election(slug)
    rows = (
        [selectors.proposal_public(p)[k] for k in PROPOSAL_COLUMNS]
        for p in selectors.proposals_public(election).order_by("code")
    )
    return _csv(f"{slug}-proposals.csv", PROPOSAL_COLUMNS, rows)


@api.get(
    "/elections/{slug}/proposals/{code}", response={200: schemas.ProposalOut, **ERRORS}, tags=["proposals"]
)
def proposal(request, slug: str, code: str):
    election = selectors.published_election(slug)
    return _json(schemas.ProposalOut, selectors.proposal_public(selectors.proposal_by_code(election, code)))


# --- results and turnout -----------------------------------------------------------------------------------


@api.get("/elections/{slug}/results", response={200: schemas.ResultsOut, **ERRORS}, tags=["results"])
def results(request, slug: str):
    """The certified result per pot: funded and unfunded projects with the reasons, rounds and tie-breaks."""
    election = selectors.published_election(slug)
    return _json_fixed("results", election, schemas.ResultsOut, selectors.results_public)


RESULT_COLUMNS = ["pot", "project", "name", "cost", "score", "funded", "order", "reason"]


@api.get("/elections/{slug}/results.csv", response={**ERRORS}, openapi_extra=CSV_RESPONSE, tags=["csv"])
def results_csv(request, slug: str):
    """One row per project: funded (in the order funded) then unfunded, with the reason."""
    data = selectors.results_public(selectors.published_election(slug))
    rows = []
    for pot in data["pots"]:
        for i, p in enumerate(pot["funded"], 1):
            rows.append([pot["slug"], p["id"], p["name"], p["cost"], p["score"], "yes", i, ""])
        for p in pot["unfunded"]:
            rows.append([pot["slug"], p["id"], p["name"], p["cost"], p["score"], "no", "", p["reason"]])
    return _csv(f"{slug}-results.csv", RESULT_COLUMNS, rows)


@api.get("/elections/{slug}/turnout", response={200: schemas.TurnoutOut, **ERRORS}, tags=["results"])
def turnout(request, slug: str):
    """Voters per pot, channel and booth; cells under the anonymity set K, and those that could be worked out
    from them by subtraction, merged into one row per pot (one rule for the whole table; docs/api.md)."""
    election = selectors.published_election(slug)
    return _json_fixed("turnout", election, schemas.TurnoutOut, selectors.turnout_public)


TURNOUT_COLUMNS = ["pot", "pot_name", "channel", "booth", "voters", "merged", "under_k"]


@api.get("/elections/{slug}/turnout.csv", response={**ERRORS}, openapi_extra=CSV_RESPONSE, tags=["csv"])
def turnout_csv(request, slug: str):
    data = selectors.turnout_public(selectors.published_election(slug))
    rows = ([r[k] for k in TURNOUT_COLUMNS] for r in data["rows"])
    return _csv(f"{slug}-turnout.csv", TURNOUT_COLUMNS, rows)


# --- tracking ----------------------------------------------------------------------------------------------
# Tracking of funded projects (issue #13) goes here once pb records it: /elections/{slug}/tracking and
# tracking.csv, from a selector that returns only what its public page shows, for published elections only
# (docs/api.md, "Not yet: tracking"). No route until there is data: an empty endpoint would promise a shape.
