"""A published election for the open data API tests (tests/tally/conftest.py's World, taken through
certification and publication), with things that must never be served: a draft proposal, its author."""

from __future__ import annotations

import json

import pytest
from django.core.cache import cache
from openapi_schema_validator import OAS31Validator

from proposals.models import ProposalStatus
from tests.factories import ProposalFactory, UserFactory

SECRET_DRAFT = "Zqx-draft-never-public"
AUTHOR = "zqx-author-never-public"


@pytest.fixture(autouse=True)
def _fresh_cache(settings):
    """Rate-limit counters and cached results live in the (local-memory) cache: each test starts empty.
    The walks below make hundreds of requests from one address: the rate-limit tests set their own."""
    settings.PB_API_RATE_COUNT = 100_000
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def published(world):
    author = UserFactory(username=AUTHOR)
    world.through_certify()
    world.publish()
    # After publication (so the frozen definition is unchanged): a resident's draft and a proposal whose
    # title a spreadsheet would run as a formula.
    ProposalFactory(
        pot=world.north,
        election=world.election,
        code="D1",
        title=SECRET_DRAFT,
        author=author,
        status=ProposalStatus.DRAFT,
    )
    ProposalFactory(
        pot=world.south,
        election=world.election,
        code="X1",
        title='=HYPERLINK("http://evil.example")',
        author=author,
        status=ProposalStatus.NOT_FEASIBLE,
        review_reason="Too costly",
    )
    return world


def openapi_doc(client) -> dict:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    return json.loads(response.content)


def endpoints(doc: dict, *, slug: str, code: str) -> list[tuple[str, str]]:
    """(template, url) of every path the OpenAPI document names, filled in for one election."""
    return [(template, template.replace("{slug}", slug).replace("{code}", code)) for template in doc["paths"]]


def check_response(doc: dict, template: str, response) -> None:
    """The response's status is documented for this path, with its content type, and the body validates
    against the documented schema."""
    op = doc["paths"][template]["get"]
    status = str(response.status_code)
    assert status in op["responses"], f"{template} answered {status}, which its OpenAPI entry does not list"
    content = op["responses"][status]["content"]
    ctype = response["Content-Type"].split(";")[0].strip()
    assert ctype in content, f"{template} {status}: {ctype} not in {list(content)}"
    body = response.content if not getattr(response, "streaming", False) else b"".join(response)
    if ctype == "application/json":
        schema = {**content[ctype]["schema"], "components": doc["components"]}
        OAS31Validator(schema).validate(json.loads(body))
    else:
        assert body.decode("utf-8").splitlines()[0], "a CSV starts with its header row"
