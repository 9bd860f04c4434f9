"""Nothing unpublished is ever reachable: every API route, CSV and the embed page are walked in every phase
of an election's life; until its results are published nothing of it appears (not its name, slug, a
proposal, a figure), and the answers are the same 404 as for an election that does not exist."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from django.urls import reverse

from pb.core.models import Phase
from pb.core.services import election_advance
from tests.factories import ElectionFactory, PotFactory, ProposalFactory, official
from tests.tally.opendata.conftest import AUTHOR, SECRET_DRAFT, check_response, endpoints, openapi_doc


def walk(client, doc, election, *, code: str, pots: list[str]) -> dict[str, object]:
    """Every route of the OpenAPI document for this election, the election list, its CSV and the embed
    page of each pot: url -> response."""
    urls = [url for _t, url in endpoints(doc, slug=election.slug, code=code)]
    urls += [reverse("tally:embed", args=[election.slug, pot]) for pot in pots]
    return {url: client.get(url) for url in urls}


def assert_nothing_of(client, doc, election, *, code: str, pots: list[str], secrets: list[str]) -> None:
    phase = election.phase
    for url, response in walk(client, doc, election, code=code, pots=pots).items():
        # The 404 page may echo the address the client asked for (its sign-in link): that is no leak.
        body = response.content.decode("utf-8", "replace").replace(url, "").replace(quote(url, safe=""), "")
        for secret in secrets:
            assert secret not in body, f"{phase}: {url} shows {secret!r}"
        if "/elections/" in url or "/embed/" in url:
            assert response.status_code == 404, f"{phase}: {url} answered {response.status_code}"
            missing = url.replace(election.slug, "no-such-election-zz", 1)
            assert client.get(missing).status_code == 404
            if "/embed/" not in url:
                assert response.content == client.get(missing).content, "the same 404 as for no election"
                template = next(t for t, u in endpoints(doc, slug=election.slug, code=code) if u == url)
                check_response(doc, template, response)
        else:
            assert response.status_code == 200


def test_nothing_before_voting(client, db):
    doc = openapi_doc(client)
    o = official()
    election = ElectionFactory(name="Zqx Early Election")
    pot = PotFactory(election=election, slug="zqx-pot", name="Zqx Pot")
    ProposalFactory(pot=pot, election=election, code="E1", title="Zqx early idea")
    secrets = [election.slug, election.name, "Zqx Pot", "Zqx early idea", "zqx-pot"]
    for phase in (Phase.DRAFT, Phase.PROPOSALS_OPEN, Phase.REVIEW):
        if election.phase != phase:
            election = election_advance(actor=o, election=election, to_phase=phase)
        assert_nothing_of(client, doc, election, code="E1", pots=["zqx-pot"], secrets=secrets)


def test_nothing_from_voting_to_certification_then_everything_published(world, client):
    doc = openapi_doc(client)
    e = world.election
    secrets = [e.slug, e.name, "North", SECRET_DRAFT, AUTHOR]
    kwargs = {"code": "N1", "pots": ["north", "south"], "secrets": secrets}
    assert world.election.phase == Phase.VOTING_OPEN
    assert_nothing_of(client, doc, world.election, **kwargs)
    world.close()
    assert world.election.phase == Phase.VOTING_CLOSED
    assert_nothing_of(client, doc, world.election, **kwargs)
    world.tally()
    assert world.election.phase == Phase.TALLIED
    assert_nothing_of(client, doc, world.election, **kwargs)
    world.signoffs()
    world.certify()
    assert world.election.phase == Phase.CERTIFIED
    assert_nothing_of(client, doc, world.election, **kwargs)
    # Even signed in as its official: the API is public data only.
    client.force_login(world.o1)
    assert_nothing_of(client, doc, world.election, **kwargs)
    client.logout()

    world.publish()
    responses = walk(client, doc, world.election, code="N1", pots=["north", "south"])
    assert all(r.status_code == 200 for r in responses.values()), {
        u: r.status_code for u, r in responses.items() if r.status_code != 200
    }
    listing = client.get("/api/v1/elections").content.decode()
    assert world.election.slug in listing


@pytest.mark.parametrize("phase", [Phase.CERTIFIED])
def test_a_published_election_does_not_open_another_ones_data(world, client, phase):
    """One election published, another (same site) certified only: the second stays unreachable."""
    doc = openapi_doc(client)
    world.through_certify()
    other = ElectionFactory(name="Zqx Second Election")
    pot = PotFactory(election=other, slug="zqx-second", name="Zqx Second Pot")
    ProposalFactory(pot=pot, election=other, code="S9", title="Zqx second idea")
    world.publish()
    assert_nothing_of(
        client,
        doc,
        other,
        code="S9",
        pots=["zqx-second"],
        secrets=[other.slug, other.name, "Zqx Second Pot", "Zqx second idea"],
    )
    # Cross-election: the published election's routes with the other's proposal or pot.
    slug = world.election.slug
    assert client.get(f"/api/v1/elections/{slug}/proposals/S9").status_code == 404
    assert client.get(reverse("tally:embed", args=[slug, "zqx-second"])).status_code == 404


def test_a_published_phase_without_certification_shows_nothing_and_breaks_nothing(client, db):
    """A row that skipped certification (only a broken database or a hand edit makes one) is left out."""
    doc = openapi_doc(client)
    broken = ElectionFactory(name="Zqx Uncertified", phase=Phase.PUBLISHED)
    PotFactory(election=broken, slug="zqx-un", name="Zqx Un Pot")
    assert client.get("/api/v1/elections").status_code == 200
    assert_nothing_of(
        client, doc, broken, code="P1", pots=["zqx-un"], secrets=[broken.slug, broken.name, "Zqx Un Pot"]
    )
