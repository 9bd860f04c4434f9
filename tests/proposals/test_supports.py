"""The supports phase: residents support submitted proposals; the election's rule decides what goes on to
review, every decision audited and explained on the proposal page; one support per resident and proposal and
the per-resident limit hold under concurrent requests (PostgreSQL)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.urls import reverse

from pb.core.exceptions import PermissionDenied, PhaseError
from pb.core.models import AuditEvent, Phase
from pb.core.services import election_advance, next_phase
from proposals.exceptions import SupportRefused
from proposals.models import Proposal, ProposalStatus
from proposals.supports.models import Support
from proposals.supports.services import (
    election_supports_configure,
    proposal_support,
    proposal_support_withdraw,
)
from tests.factories import ElectionFactory, PotFactory, ProposalFactory, UserFactory, official


class World:
    """An election in "proposals open" with a citywide pot and two districts, six submitted proposals, a
    draft, an official and residents."""

    def __init__(self, **rules):
        self.official = official(username="supports-official")
        self.election = ElectionFactory(phase=Phase.PROPOSALS_OPEN)
        self.city = PotFactory(election=self.election, slug="city", name="Citywide", is_citywide=True)
        self.north = PotFactory(election=self.election, slug="north", name="North")
        self.south = PotFactory(election=self.election, slug="south", name="South")
        mk = lambda pot, code: ProposalFactory(  # noqa: E731
            election=self.election, pot=pot, code=code, status=ProposalStatus.SUBMITTED
        )
        self.c1, self.c2 = mk(self.city, "P001"), mk(self.city, "P002")
        self.n1, self.n2, self.n3 = mk(self.north, "P003"), mk(self.north, "P004"), mk(self.north, "P005")
        self.s1 = mk(self.south, "P006")
        self.draft = ProposalFactory(
            election=self.election, pot=self.north, code="P007", status=ProposalStatus.DRAFT
        )
        self.residents = [UserFactory(username=f"supporter{i}") for i in range(8)]
        election_supports_configure(actor=self.official, election=self.election, enabled=True, **rules)
        self.election.refresh_from_db()

    def open(self):
        assert next_phase(self.election) == Phase.SUPPORTS
        self.election = election_advance(actor=self.official, election=self.election, to_phase=Phase.SUPPORTS)

    def support(self, proposal, *residents):
        for r in residents:
            proposal_support(actor=r, proposal=proposal)

    def close(self):
        self.election = election_advance(actor=self.official, election=self.election, to_phase=Phase.REVIEW)


def _status(p: Proposal) -> str:
    p.refresh_from_db()
    return p.status


@pytest.mark.django_db
def test_top_n_per_district_decides_what_goes_on_ties_included_and_every_decision_is_audited():
    w = World(top_n=1, per_resident=5)
    w.open()
    r = w.residents
    w.support(w.c1, r[0], r[1], r[2])  # citywide: c1 3, c2 1 -> c1 goes on
    w.support(w.c2, r[3])
    w.support(w.n1, r[0], r[1])  # north: n1 2, n2 2 (tied for first: both go on), n3 0
    w.support(w.n2, r[2], r[3])
    before = AuditEvent.objects.filter(action="proposal.supports_decision").count()
    w.close()
    assert w.election.phase == Phase.REVIEW
    assert [_status(p) for p in (w.c1, w.c2, w.n1, w.n2, w.n3, w.s1)] == [
        ProposalStatus.SUBMITTED,
        ProposalStatus.NOT_SELECTED,
        ProposalStatus.SUBMITTED,
        ProposalStatus.SUBMITTED,
        ProposalStatus.NOT_SELECTED,
        ProposalStatus.SUBMITTED,  # south: the only proposal, with no support, is the most supported there
    ]
    assert _status(w.draft) == ProposalStatus.DRAFT  # never submitted: not part of the decision
    w.n3.refresh_from_db()
    assert w.n3.supports_decision == {
        "advanced": False,
        "supports": 0,
        "rule": "top_n",
        "top_n": 1,
        "rank": 3,
        "cutoff": 2,
    }
    events = AuditEvent.objects.filter(action="proposal.supports_decision")
    assert events.count() - before == 6
    assert {e.data["code"]: e.data["advanced"] for e in events} == {
        "P001": True,
        "P002": False,
        "P003": True,
        "P004": True,
        "P005": False,
        "P006": True,
    }


@pytest.mark.django_db
def test_threshold_decides_and_the_page_explains_it(client):
    w = World(threshold=2)
    w.open()
    w.support(w.c1, *w.residents[:2])
    w.support(w.c2, w.residents[2])
    w.close()
    assert _status(w.c1) == ProposalStatus.SUBMITTED and _status(w.c2) == ProposalStatus.NOT_SELECTED
    page = client.get(reverse("proposals:detail", args=[w.election.slug, "P002"])).content.decode()
    assert "Did not go on to review: 1 support, at least 2 needed." in page
    assert "Not enough support" in page
    page = client.get(reverse("proposals:detail", args=[w.election.slug, "P001"])).content.decode()
    assert "Went on to review with 2 supports (at least 2 needed)." in page
    listing = client.get(reverse("proposals:list", args=[w.election.slug])).content.decode()
    assert "2 supports" in listing and "1 support<" in listing


@pytest.mark.django_db
def test_without_a_supports_phase_proposals_go_straight_to_review():
    w = World()
    election_supports_configure(actor=w.official, election=w.election, enabled=False)
    w.election.refresh_from_db()
    assert next_phase(w.election) == Phase.REVIEW
    with pytest.raises(PhaseError):
        election_advance(actor=w.official, election=w.election, to_phase=Phase.SUPPORTS)
    election_advance(actor=w.official, election=w.election, to_phase=Phase.REVIEW)
    assert _status(w.n3) == ProposalStatus.SUBMITTED  # nothing decided by supports


@pytest.mark.django_db
def test_what_a_resident_may_not_do():
    w = World(per_resident=2)
    r = w.residents[0]
    with pytest.raises(PermissionDenied):  # before the phase
        proposal_support(actor=r, proposal=w.c1)
    w.open()
    proposal_support(actor=r, proposal=w.c1)
    with pytest.raises(SupportRefused, match="already support"):
        proposal_support(actor=r, proposal=w.c1)
    with pytest.raises(SupportRefused, match="submitted"):
        proposal_support(actor=r, proposal=w.draft)
    proposal_support(actor=r, proposal=w.n1)  # first district support: North
    with pytest.raises(SupportRefused, match="all 2"):
        proposal_support(actor=r, proposal=w.n2)
    proposal_support_withdraw(actor=r, proposal=w.c1)
    with pytest.raises(SupportRefused, match="North"):
        proposal_support(actor=r, proposal=w.s1)  # one district, as on the ballot
    proposal_support_withdraw(actor=r, proposal=w.n1)  # no district support left: free to choose again
    proposal_support(actor=r, proposal=w.s1)
    with pytest.raises(SupportRefused, match="do not support"):
        proposal_support_withdraw(actor=r, proposal=w.n1)
    with pytest.raises(PermissionDenied):  # the phase's end ends supporting
        w.close()
        proposal_support(actor=w.residents[1], proposal=w.c1)
    assert Support.objects.filter(user=r).count() == 1


@pytest.mark.django_db
def test_rules_are_set_by_officials_before_proposals_close_and_audited():
    w = World(threshold=3)
    with pytest.raises(SupportRefused, match="not both"):
        election_supports_configure(actor=w.official, election=w.election, enabled=True, threshold=2, top_n=2)
    with pytest.raises(SupportRefused, match="between 1"):
        election_supports_configure(actor=w.official, election=w.election, enabled=True, per_resident=0)
    with pytest.raises(PermissionDenied):
        election_supports_configure(actor=w.residents[0], election=w.election, enabled=False)
    assert AuditEvent.objects.filter(action="election.supports_configure").count() == 1
    w.open()
    with pytest.raises(PermissionDenied):  # frozen once the phase started
        election_supports_configure(actor=w.official, election=w.election, enabled=True, threshold=1)
    w.election.refresh_from_db()
    assert w.election.supports_threshold == 3


def _decision(client, election, code: str) -> str:
    page = client.get(reverse("proposals:detail", args=[election.slug, code])).content.decode()
    start = page.index('id="support-decision">') + len('id="support-decision">')
    return " ".join(page[start : page.index("</p>", start)].split())


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        (
            {"threshold": 1},
            {
                "P001": "Went on to review with 1 support (at least 1 needed).",
                "P002": "Did not go on to review: 0 supports, at least 1 needed.",
                "P003": "Went on to review with 2 supports (at least 1 needed).",
            },
        ),
        (
            {"top_n": 1},
            {
                "P001": "Went on to review with 1 support, place 1 in its district (the top 1 went on).",
                "P002": "Did not go on to review: 0 supports, place 2 in its district; the top 1 went on, "
                "with at least 1 each.",
                "P003": "Went on to review with 2 supports, place 1 in its district (the top 1 went on).",
            },
        ),
        (
            {},
            {
                "P001": "Went on to review with 1 support (every proposal did).",
                "P002": "Went on to review with 0 supports (every proposal did).",
            },
        ),
    ],
)
@pytest.mark.django_db
def test_the_decision_reads_right_for_one_support(client, rules, expected):
    """ "1 supports, 1 were needed" was on a resident's proposal page (found by the browser journey)."""
    w = World(per_resident=2, **rules)
    w.open()
    w.support(w.c1, w.residents[0])
    w.support(w.n1, *w.residents[1:3])
    w.close()
    for code, text in expected.items():
        assert _decision(client, w.election, code) == text


@pytest.mark.django_db
def test_a_limit_of_one_support_reads_in_the_singular(client):
    w = World(per_resident=1)
    w.open()
    client.force_login(w.residents[0])
    page = client.get(reverse("proposals:detail", args=[w.election.slug, "P001"])).content.decode()
    assert "You have used 0 of your 1 support." in page


@pytest.mark.django_db
def test_over_http_with_and_without_javascript(client):
    w = World(per_resident=3)
    w.open()
    url = reverse("proposals:support", args=[w.election.slug, "P001"])
    assert client.post(url, {"action": "support"}).status_code == 302  # to the sign-in page
    assert not Support.objects.exists()
    client.force_login(w.residents[0])
    r = client.post(url, {"action": "support"})
    assert r.status_code == 302 and Support.objects.count() == 1
    page = client.get(r.url).content.decode()
    assert "Your support is counted." in page and "1 resident supports this proposal." in page
    assert "You have used 1 of your 3 supports." in page and "Take my support back" in page
    r = client.post(url, {"action": "support"}, headers={"HX-Request": "true"})
    assert (
        r.status_code == 200 and "You already support this proposal." in r.content.decode()
    )  # htmx swaps 2xx
    assert 'id="support-box"' in r.content.decode() and "<html" not in r.content.decode()
    r = client.post(url, {"action": "withdraw"}, headers={"HX-Request": "true"})
    assert r.status_code == 200 and "0 residents support this proposal." in r.content.decode()
    for garbage in ({"action": "vote"}, {}, {"action": "support\x00"}):
        r = client.post(url, garbage, headers={"HX-Request": "true"})
        assert "Choose to support" in r.content.decode() and Support.objects.count() == 0
    assert (
        client.post(
            reverse("proposals:support", args=[w.election.slug, "P999"]), {"action": "support"}
        ).status_code
        == 404
    )
    assert client.get(url).status_code == 405


@pytest.mark.django_db
def test_officials_set_the_rules_on_a_page(client):
    w = World()
    url = reverse("proposals:supports_settings", args=[w.election.slug])
    client.force_login(w.residents[0])
    assert client.get(url).status_code == 403
    client.force_login(w.official)
    assert "Supports phase" in client.get(reverse("core:manage", args=[w.election.slug])).content.decode()
    r = client.post(url, {"enabled": "on", "per_resident": "4", "rule": "top_n", "number": ""})
    assert r.status_code == 400 and "Give the number for this rule." in r.content.decode()
    r = client.post(url, {"enabled": "on", "per_resident": "-1", "rule": "top_n", "number": "3"})
    assert r.status_code == 400
    r = client.post(url, {"enabled": "on", "per_resident": "4", "rule": "top_n", "number": "3"})
    assert r.status_code == 302
    w.election.refresh_from_db()
    assert (w.election.supports_per_resident, w.election.supports_top_n, w.election.supports_threshold) == (
        4,
        3,
        None,
    )


def _race(n: int, target) -> list[Exception]:
    barrier = threading.Barrier(n)
    errors: list[Exception] = []

    def run(i):
        try:
            barrier.wait()
            target(i)
        except Exception as exc:  # collected and asserted by the caller
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_one_support_per_resident_and_proposal_under_concurrent_requests():
    w = World(per_resident=10)
    w.open()
    resident = w.residents[0]
    errors = _race(8, lambda i: proposal_support(actor=resident, proposal=w.c1))
    assert Support.objects.filter(user=resident, proposal=w.c1).count() == 1
    assert len(errors) == 7 and all(isinstance(e, SupportRefused) for e in errors), errors


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_per_resident_limit_holds_under_concurrent_requests():
    w = World(per_resident=2)
    w.open()
    resident = w.residents[0]
    targets = [w.c1, w.c2, w.n1, w.n2, w.n3]
    errors = _race(len(targets), lambda i: proposal_support(actor=resident, proposal=targets[i]))
    assert Support.objects.filter(user=resident).count() == 2
    assert len(errors) == 3 and all(isinstance(e, SupportRefused) for e in errors), errors


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_no_support_lands_after_the_decision_counted():
    # Supports racing the end of the phase: each either counts in the decision or is refused; none is stored
    # without having been counted.
    w = World(threshold=1)
    w.open()

    def act(i):
        if i == 0:
            w.close()
        else:
            proposal_support(actor=w.residents[i - 1], proposal=w.n3)

    errors = _race(7, act)
    assert all(isinstance(e, PermissionDenied) for e in errors), errors
    w.n3.refresh_from_db()
    assert w.n3.supports_decision["supports"] == Support.objects.filter(proposal=w.n3).count()
