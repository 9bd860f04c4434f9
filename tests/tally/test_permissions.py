"""Role x phase for every results action."""

import pytest
from django.urls import reverse

from pb.core.models import PHASE_ORDER, Phase
from pb.core.permissions import allowed
from tally.models import RunStatus, TallyRun
from tests.factories import ElectionFactory, UserFactory, council, official

EXPECTED = {
    # action: (role that may, phases in which it may)
    "tally.close": ("official", {Phase.VOTING_OPEN}),
    "tally.run": ("official", {Phase.VOTING_CLOSED, Phase.TALLIED}),
    "tally.signoff": ("official", {Phase.TALLIED}),
    "tally.certify": ("council", {Phase.TALLIED}),
    "election.publish": ("council", {Phase.CERTIFIED}),
}


@pytest.mark.parametrize("action", sorted(EXPECTED))
def test_matrix(db, action):
    users = {"official": official(), "council": council(), "resident": UserFactory()}
    role, phases = EXPECTED[action]
    for phase in PHASE_ORDER:
        election = ElectionFactory.build(phase=phase)
        for name, user in users.items():
            assert allowed(user, action, election) == (name == role and phase in phases), (
                action,
                phase,
                name,
            )


def test_run_status_partial_polls_while_counting(db, client):
    o = official()
    election = ElectionFactory(phase=Phase.VOTING_CLOSED)
    run = TallyRun.objects.create(
        election=election,
        official=True,
        rule="greedy",
        tie_break="cost,score,order",
        started_by=o,
        created_at=election.created_at,
        status=RunStatus.RUNNING,
        progress="Counting North (1 of 2)",
    )
    client.force_login(o)
    url = reverse("tally:run_status", args=[election.slug])
    part = client.get(url, headers={"HX-Request": "true"})
    assert b'hx-trigger="every 2s"' in part.content and b"Counting North" in part.content
    assert b"<html" not in part.content
    run.status = RunStatus.DONE
    run.save()
    assert b"every 2s" not in client.get(url, headers={"HX-Request": "true"}).content
