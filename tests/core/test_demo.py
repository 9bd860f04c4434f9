import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command

from pb.core.models import AuditEvent, Election, Phase
from proposals.models import Proposal, ProposalStatus

pytestmark = pytest.mark.django_db


def test_demo_load_is_realistic_and_idempotent(capsys):
    call_command("demo_load")
    election = Election.objects.get(slug="riverton-2026")
    assert election.phase == Phase.PROPOSALS_OPEN
    pots = list(election.pots.all())
    assert sum(p.is_citywide for p in pots) == 1 and len(pots) >= 4
    proposals = Proposal.objects.filter(election=election)
    assert proposals.count() >= 40
    assert proposals.values("category").distinct().count() >= 5
    feasible = proposals.filter(status=ProposalStatus.FEASIBLE).count()
    assert feasible > proposals.count() / 2
    merged = proposals.get(status=ProposalStatus.MERGED)
    assert merged.merged_into.status == ProposalStatus.FEASIBLE
    assert set(proposals.values_list("language", flat=True)) >= {"en", "vi", "zh-hans"}
    for username, password in [
        ("official", "official-demo-2026"),
        ("council", "council-demo-2026"),
        ("resident", "resident-demo-2026"),
    ]:
        assert authenticate(username=username, password=password) is not None
    assert "account official / official-demo-2026" in capsys.readouterr().out

    count, events = proposals.count(), AuditEvent.objects.count()
    call_command("demo_load")
    assert Election.objects.filter(slug="riverton-2026").count() == 1
    assert Proposal.objects.filter(election=election).count() == count
    assert "already loaded" in capsys.readouterr().out
    assert AuditEvent.objects.filter(action="demo.load").count() == 1
    assert AuditEvent.objects.count() >= events
    call_command("audit_verify")
