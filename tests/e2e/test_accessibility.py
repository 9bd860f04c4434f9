"""axe-core (vendored: tests/e2e/vendor/axe-core) on the public pages, in the three languages, at phone and
desktop width: no serious or critical violation. Pages with their own browser tests check themselves there
too (the `accessible` fixture)."""

import pytest

from pb.core.models import Phase
from proposals.models import ProposalStatus
from tests.factories import CategoryFactory, ElectionFactory, PotFactory, ProposalFactory

pytestmark = pytest.mark.e2e


@pytest.fixture
def world(base_url):
    e = ElectionFactory(phase=Phase.PROPOSALS_OPEN, slug="axe-city", name="Axe City PB")
    pot = PotFactory(election=e, slug="north", name="Northbank")
    cat = CategoryFactory(election=e, slug="parks", name="Parks")
    ProposalFactory(pot=pot, category=cat, code="P001", title="Benches", status=ProposalStatus.SUBMITTED)
    return e


@pytest.mark.parametrize("language", ["en", "vi", "zh-hans"])
def test_public_pages_have_no_serious_violation(page, base_url, world, accessible, language):
    page.context.add_cookies([{"name": "django_language", "value": language, "url": base_url}])
    for path in (
        "/",
        "/elections/axe-city/",
        "/proposals/axe-city/",
        "/proposals/axe-city/P001/",
        "/accounts/login/",
    ):
        page.goto(f"{base_url}{path}")
        accessible(page)


def test_the_check_finds_a_violation(page, base_url, world, axe):
    # Not vacuous: an unlabelled field and an empty button on the same page are reported.
    page.goto(f"{base_url}/elections/axe-city/")
    page.evaluate(
        "() => { const m = document.querySelector('main');"
        " m.appendChild(document.createElement('input')); m.appendChild(document.createElement('button')); }"
    )
    assert {"label", "button-name"} <= {v["id"] for v in axe(page)}
