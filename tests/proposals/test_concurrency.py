import threading

import pytest
from django.db import connection

from pb.core.models import Phase
from proposals import services
from proposals.models import Proposal
from tests.factories import CategoryFactory, ElectionFactory, PotFactory, UserFactory


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_submissions_get_distinct_consecutive_codes():
    election = ElectionFactory(phase=Phase.PROPOSALS_OPEN)
    pot, category = PotFactory(election=election), CategoryFactory(election=election)
    residents = [UserFactory() for _ in range(12)]
    barrier = threading.Barrier(len(residents))
    errors = []

    def submit(user):
        try:
            barrier.wait()
            services.proposal_create(
                actor=user,
                election=election,
                title=f"Idea of {user.username}",
                description="Same moment",
                pot=pot,
                category=category,
                cost=1000,
                submit=True,
            )
        except Exception as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=submit, args=(u,)) for u in residents]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    codes = sorted(Proposal.objects.filter(election=election).values_list("code", flat=True))
    assert codes == [f"P{i:03d}" for i in range(1, 13)]
