"""The open data API on a published election: the OpenAPI document is valid and every endpoint's responses
match it; the content is what the public pages show; pagination, CSV, ETags, CORS, bad input."""

from __future__ import annotations

import csv
import io
import json

import pytest
from openapi_spec_validator import validate

from tally.models import Certification
from tests.tally.opendata.conftest import AUTHOR, SECRET_DRAFT, check_response, endpoints, openapi_doc


def get(client, url, **headers):
    return client.get(url, headers=headers)


def test_openapi_document_is_valid_openapi_3_and_names_every_route(client, db):
    doc = openapi_doc(client)
    validate(doc)  # raises on an invalid OpenAPI document
    assert doc["openapi"].startswith("3.")
    paths = set(doc["paths"])
    for suffix in ("", ".csv"):
        assert "/api/v1/elections" + suffix in paths
        for table in ("pots", "proposals", "results", "turnout"):
            assert f"/api/v1/elections/{{slug}}/{table}{suffix}" in paths
    assert "/api/v1/elections/{slug}/proposals/{code}" in paths
    # Read-only: no operation but GET.
    assert {m for ops in doc["paths"].values() for m in ops} == {"get"}


def test_every_endpoint_answers_as_its_openapi_entry_says(published, client):
    doc = openapi_doc(client)
    slug = published.election.slug
    for template, url in endpoints(doc, slug=slug, code="N1"):
        response = get(client, url)
        assert response.status_code == 200, (url, response.content[:300])
        check_response(doc, template, response)
        # and the error answers of the same routes
        if "{slug}" in template:
            check_response(doc, template, get(client, url.replace(slug, "no-such-election", 1)))
        if template.endswith(("/elections", "/proposals")):
            check_response(doc, template, get(client, url + "?cursor=%%%"))
            check_response(doc, template, get(client, url + "?limit=0"))
    check_response(
        doc,
        "/api/v1/elections/{slug}/proposals/{code}",
        get(client, doc and f"/api/v1/elections/{slug}/proposals/D1"),
    )


def test_results_are_the_certified_count_with_its_reasons(published, client):
    cert = Certification.objects.get(election=published.election)
    data = json.loads(get(client, f"/api/v1/elections/{published.election.slug}/results").content)
    assert data["manifest_sha256"] == cert.manifest_sha256
    assert {p["slug"] for p in data["pots"]} == {"north", "south"}
    for pot in data["pots"]:
        res = cert.run.results[pot["slug"]]
        assert [p["id"] for p in pot["funded"]] == res["selected"]
        assert {p["id"]: p["reason"] for p in pot["unfunded"]} == res["unfunded"]
        assert pot["rounds"] == res["rounds"] and pot["rounds"], "the explanation, round by round"
        assert pot["ballots"] == cert.run.summary[pot["slug"]]["ballots"]
        assert all(p["reason"] for p in pot["unfunded"])


def test_structured_explanations_of_the_engine_are_passed_through(published, client):
    cert = Certification.objects.get(election=published.election)
    run = cert.run
    unfunded = next(iter(run.results["north"]["unfunded"]))
    run.results["north"]["unfunded_why"] = {unfunded: {"code": "not_affordable", "short_by": 5000}}
    run.results["north"]["rounds"][0]["why"] = {"code": "most_votes", "votes": 12}
    run.save()
    data = json.loads(get(client, f"/api/v1/elections/{published.election.slug}/results").content)
    north = next(p for p in data["pots"] if p["slug"] == "north")
    assert next(p for p in north["unfunded"] if p["id"] == unfunded)["why"] == {
        "code": "not_affordable",
        "short_by": 5000,
    }
    assert north["rounds"][0]["why"] == {"code": "most_votes", "votes": 12}
    check_response(
        openapi_doc(client),
        "/api/v1/elections/{slug}/results",
        get(client, f"/api/v1/elections/{published.election.slug}/results"),
    )


def test_turnout_is_the_pages_turnout_with_small_cells_merged(published, client):
    from tally.certification import pdf

    data = json.loads(get(client, f"/api/v1/elections/{published.election.slug}/turnout").content)
    page_rows = pdf.turnout(published.election)
    assert [(r["pot"], r["voters"], r["merged"]) for r in data["rows"]] == [
        (r["pot"].slug, r["n"], r["merged"]) for r in page_rows
    ]
    k = data["anonymity_k"]
    assert k == 20
    # 6 paper voters (under K) are never a row of their own.
    assert all(r["voters"] >= k or r["merged"] for r in data["rows"])
    assert not any(r["channel"] == "paper" for r in data["rows"])
    results = json.loads(get(client, f"/api/v1/elections/{published.election.slug}/results").content)
    # The paper count would give back the merged cell: hidden where the page says "hidden".
    assert all(p["paper_ballots"] is None for p in results["pots"])


def test_proposals_public_fields_only_and_never_a_draft(published, client):
    slug = published.election.slug
    seen, url = [], f"/api/v1/elections/{slug}/proposals?limit=2"
    pages = 0
    while url:
        data = json.loads(get(client, url).content)
        seen += data["results"]
        url = data["next"]
        pages += 1
        assert pages < 20
    codes = [p["code"] for p in seen]
    assert codes == sorted(codes) and len(codes) == len(set(codes)), "each once, in order"
    assert set(codes) == {*published.codes["north"], *published.codes["south"], "X1"}
    assert "D1" not in codes
    assert get(client, f"/api/v1/elections/{slug}/proposals/D1").status_code == 404
    x1 = json.loads(get(client, f"/api/v1/elections/{slug}/proposals/X1").content)
    assert x1["status"] == "not_feasible" and x1["review_reason"] == "Too costly"
    assert "author" not in x1
    for url in (f"/api/v1/elections/{slug}/proposals?limit=200", f"/api/v1/elections/{slug}/proposals.csv"):
        body = get(client, url).content.decode()
        assert SECRET_DRAFT not in body and AUTHOR not in body


def test_cursor_survives_new_rows_and_rejects_forgeries(published, client):
    slug = published.election.slug
    first = json.loads(get(client, f"/api/v1/elections/{slug}/proposals?limit=3").content)
    cursor = first["next"].split("cursor=")[1]
    from tests.factories import ProposalFactory

    ProposalFactory(pot=published.north, election=published.election, code="A0")  # sorts before the cursor
    second = json.loads(get(client, first["next"]).content)
    assert second["results"][0]["code"] > first["results"][-1]["code"]
    for bad in ("x", "!!!", cursor[:-2], "eyJhZnRlciI6IDF9", "bnVsbA", "A" * 300, "%00"):
        r = get(client, f"/api/v1/elections/{slug}/proposals?cursor={bad}")
        assert r.status_code in (400, 422), (bad, r.status_code)


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/elections?limit=abc",
        "/api/v1/elections?limit=100000000000000000000",
        "/api/v1/elections?limit=-1",
        "/api/v1/elections?cursor=%FF%FE",
        "/api/v1/elections/%00",
        "/api/v1/elections/%E2%80%AE/results",
        "/api/v1/elections/" + "a" * 5000 + "/results",
        "/api/v1/elections/x/proposals/%00",
        "/api/v1/elections/x/proposals/" + "é" * 300,
        "/api/v1/elections/x/nothing",
        "/api/v1/",
    ],
)
def test_garbage_never_gives_a_500(published, client, url):
    assert get(client, url).status_code in (400, 404, 422)


def test_csv_tables_match_the_json_and_neutralise_formulas(published, client):
    slug = published.election.slug
    r = get(client, f"/api/v1/elections/{slug}/results.csv")
    assert r["Content-Type"] == "text/csv; charset=utf-8"
    assert f'filename="{slug}-results.csv"' in r["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(r.content.decode())))
    data = json.loads(get(client, f"/api/v1/elections/{slug}/results").content)
    expected = []
    for pot in data["pots"]:
        expected += [(pot["slug"], q["id"], "yes", "") for q in pot["funded"]]
        expected += [(pot["slug"], q["id"], "no", q["reason"]) for q in pot["unfunded"]]
    assert [(x["pot"], x["project"], x["funded"], x["reason"]) for x in rows] == expected
    funded = {(x["pot"], x["project"]) for x in rows if x["funded"] == "yes"}
    assert funded == {(p["slug"], q["id"]) for p in data["pots"] for q in p["funded"]}
    proposals = list(
        csv.DictReader(io.StringIO(get(client, f"/api/v1/elections/{slug}/proposals.csv").content.decode()))
    )
    x1 = next(p for p in proposals if p["code"] == "X1")
    assert x1["title"].startswith("'="), "a spreadsheet shows it as text, never runs it"
    turnout = list(
        csv.DictReader(io.StringIO(get(client, f"/api/v1/elections/{slug}/turnout.csv").content.decode()))
    )
    assert sum(int(t["voters"]) for t in turnout) == sum(
        r["voters"] for r in json.loads(get(client, f"/api/v1/elections/{slug}/turnout").content)["rows"]
    )
    elections = get(client, "/api/v1/elections.csv").content.decode()
    assert slug in elections


def test_etag_and_conditional_get(published, client):
    url = f"/api/v1/elections/{published.election.slug}/results"
    first = get(client, url)
    etag = first["ETag"]
    assert etag.startswith('"') and len(etag) > 20
    assert get(client, url)["ETag"] == etag, "same data, same ETag"
    again = get(client, url, if_none_match=etag)
    assert again.status_code == 304 and again.content == b"" and again["ETag"] == etag
    assert get(client, url, if_none_match=f'"other", W/{etag}').status_code == 304
    assert get(client, url, if_none_match='"stale"').status_code == 200
    assert get(client, url, if_none_match="*").status_code == 304
    assert get(client, url, if_none_match="garbage,,,").status_code == 200
    # The ETag is the body's: other data, other tag.
    other = get(client, f"/api/v1/elections/{published.election.slug}/turnout")
    assert other["ETag"] != etag
    # CSV too
    csv_url = url + ".csv"
    tag = get(client, csv_url)["ETag"]
    assert get(client, csv_url, if_none_match=tag).status_code == 304


def test_cors_for_reads_only_and_no_credentials(published, client):
    url = f"/api/v1/elections/{published.election.slug}/results"
    r = get(client, url, origin="https://city.example")
    assert r["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in r
    assert "ETag" in r["Access-Control-Expose-Headers"]
    pre = client.options(
        url, headers={"origin": "https://city.example", "access-control-request-method": "GET"}
    )
    assert pre.status_code == 204 and pre["Access-Control-Allow-Methods"] == "GET, HEAD"
    for method in ("post", "put", "patch", "delete"):
        r = getattr(client, method)(url, headers={"origin": "https://city.example"})
        assert r.status_code == 405 and "Access-Control-Allow-Origin" not in r
    head = client.head(url)
    assert head.status_code == 200 and head.content == b"" and head["ETag"] == get(client, url)["ETag"]


def test_a_signed_in_user_sees_exactly_what_anyone_sees(published, client):
    url = f"/api/v1/elections/{published.election.slug}/proposals?limit=200"
    anonymous = get(client, url).content
    client.force_login(published.o1)  # an official, who can see drafts on the site
    assert get(client, url).content == anonymous


def test_a_page_of_proposals_costs_the_same_few_queries_however_long(
    published, client, django_assert_max_num_queries
):
    from tests.factories import ProposalFactory

    for i in range(30):
        ProposalFactory(pot=published.north, election=published.election, code=f"Q{i:02d}")
    with django_assert_max_num_queries(3):
        r = get(client, f"/api/v1/elections/{published.election.slug}/proposals?limit=200")
    assert len(json.loads(r.content)["results"]) > 30
