import itertools

import pytest
from django.core.management import CommandError, call_command

from pb.core.audit import GENESIS_HASH, audit_record, audit_verify
from pb.core.models import AuditEvent, AuditHead
from tests.factories import ElectionFactory, official

pytestmark = pytest.mark.django_db


@pytest.fixture
def chain():
    election = ElectionFactory()
    actor = official()
    for i in range(5):
        audit_record(actor=actor, action="test.step", election=election, obj=election, data={"i": i})
    return list(AuditEvent.objects.order_by("seq"))


def test_entries_chain_each_to_the_previous(chain):
    assert [e.seq for e in chain] == [1, 2, 3, 4, 5]
    assert chain[0].prev_hash == GENESIS_HASH
    for before, after in itertools.pairwise(chain):
        assert after.prev_hash == before.hash
    assert AuditHead.objects.get().hash == chain[-1].hash
    head, count, problems = audit_verify()
    assert (head, count, problems) == (chain[-1].hash, 5, [])


def test_verify_command_passes_on_an_intact_chain(chain, capsys):
    call_command("audit_verify")
    assert "audit chain OK: 5 entries" in capsys.readouterr().out


def test_altering_one_stored_entry_fails_and_names_it(chain, capsys):
    AuditEvent.objects.filter(seq=3).update(data={"i": 99})
    with pytest.raises(CommandError, match="BROKEN"):
        call_command("audit_verify")
    err = capsys.readouterr().err
    assert "entry #3" in err and "altered" in err
    assert "entry #2" not in err and "entry #4" not in err


def test_altering_an_entry_and_recomputing_its_hash_breaks_the_next_link(chain, capsys):
    from pb.core.audit import entry_hash

    e = AuditEvent.objects.get(seq=2)
    e.actor_name = "mallory"
    e.hash = entry_hash(e)
    AuditEvent.objects.filter(seq=2).update(actor_name="mallory", hash=e.hash)
    with pytest.raises(CommandError):
        call_command("audit_verify")
    assert "entry #3: previous-hash link" in capsys.readouterr().err


def test_deleting_an_entry_is_detected(chain, capsys):
    AuditEvent.objects.filter(seq=4).delete()
    with pytest.raises(CommandError):
        call_command("audit_verify")
    assert "entry #5" in capsys.readouterr().err


def test_deleting_the_last_entry_is_detected(chain, capsys):
    AuditEvent.objects.filter(seq=5).delete()
    with pytest.raises(CommandError):
        call_command("audit_verify")
    assert "truncated" in capsys.readouterr().err
