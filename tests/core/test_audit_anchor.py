"""The anchored audit log (issue 9 part 5): keyed entries, signed checkpoints, private voter fields.

The adversary has the database. Some tests give them PB_HMAC_KEY too (they re-key every entry they
re-chain): only the audit key file, which they do not have, still catches them through the checkpoints."""

import datetime as dt
import os
import stat

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction

from pb.core import audit_keys
from pb.core.audit import (
    audit_checkpoint,
    audit_latest_checkpoint,
    audit_record,
    audit_verify,
    entry_hash,
    entry_mac,
    entry_payload,
)
from pb.core.models import AuditCheckpoint, AuditEvent, AuditHead, Election, Phase
from pb.core.services import election_advance
from tally.engine import auditlog
from tally.engine.canonical import canonical_hash
from tests.factories import ElectionFactory, official

pytestmark = pytest.mark.django_db


def _write(n, election, actor, start=0):
    for i in range(start, start + n):
        audit_record(actor=actor, action="test.step", election=election, obj=election, data={"i": i})


@pytest.fixture
def anchored():
    """13 entries; checkpoints signed at seq 5 and seq 10; entries 11-13 after the last checkpoint."""
    election, actor = ElectionFactory(), official()
    _write(5, election, actor)
    first = audit_checkpoint(reason="test", election=election)
    _write(5, election, actor, 5)
    second = audit_checkpoint(reason="test", election=election)
    _write(3, election, actor, 10)
    assert audit_verify()[2] == []
    return election, actor, first, second


def _rechain(from_seq, *, rekey=True):
    """What an attacker does after editing entries: recompute every hash and link from `from_seq` on (and,
    holding PB_HMAC_KEY, every MAC), then the head row, so the stored chain is self-consistent again."""
    prev = AuditEvent.objects.filter(seq__lt=from_seq).order_by("-seq").values_list("hash", flat=True).first()
    prev = prev or auditlog.GENESIS
    for e in AuditEvent.objects.filter(seq__gte=from_seq).order_by("seq"):
        e.prev_hash = prev
        e.hash = entry_hash(e)
        if rekey:
            e.mac = entry_mac(e.hash)
        AuditEvent.objects.filter(pk=e.pk).update(prev_hash=e.prev_hash, hash=e.hash, mac=e.mac)
        prev = e.hash
    last = AuditEvent.objects.order_by("-seq").first()
    AuditHead.objects.filter(pk=1).update(seq=last.seq, hash=last.hash)


def _problems():
    return [(p.seq, p.reason) for p in audit_verify()[2]]


def _text():
    return "\n".join(f"entry #{s}: {r}" for s, r in _problems())


# --- rewriting ---------------------------------------------------------------------------------------------


def test_rewrite_and_rechain_without_the_mac_key_names_the_entry(anchored):
    _e, _a, first, _second = anchored
    AuditEvent.objects.filter(seq=3).update(data={"i": 99})
    _rechain(3, rekey=False)
    text = _text()
    assert f"entry #3: chain no longer matches the signed checkpoint #{first.pk} at seq 5" in text
    assert "entry #3: keyed MAC does not match" in text


def test_rewrite_and_rechain_with_the_mac_key_is_still_caught_by_the_checkpoint(anchored):
    _e, _a, first, second = anchored
    AuditEvent.objects.filter(seq=3).update(actor_name="mallory")
    _rechain(3)
    text = _text()
    assert "keyed MAC" not in text  # the attacker re-keyed every entry...
    # ...but cannot sign: the checkpoint names the range the change is in, and the later one fails too.
    assert (
        f"entry #1: chain no longer matches the signed checkpoint #{first.pk} at seq 5 "
        "(the change is in entries #1 to #5)" in text
    )
    assert f"signed checkpoint #{second.pk} at seq 10 no longer matches either" in text


def test_rewrite_between_two_checkpoints_is_placed_after_the_first(anchored):
    _e, _a, _first, second = anchored
    AuditEvent.objects.filter(seq=8).update(data={"i": -1})
    _rechain(8)
    assert (
        6,
        f"chain no longer matches the signed checkpoint #{second.pk} at seq 10 "
        "(the change is in entries #6 to #10)",
    ) in _problems()


def test_rewrite_after_the_last_checkpoint_needs_the_mac_key(anchored):
    AuditEvent.objects.filter(seq=12).update(data={"i": 1000})
    _rechain(12, rekey=False)
    problems = _problems()
    assert [s for s, _r in problems] == [12, 13]
    assert all("keyed MAC does not match" in r for _s, r in problems)


def test_rewriting_a_private_field_breaks_the_commitment():
    election, clerk = ElectionFactory(), official()
    e = audit_record(
        actor=clerk,
        action="voter.identify",
        election=election,
        obj=election,
        data={"method": "booth"},
        private={"booth": "Town hall"},
    )
    assert audit_verify()[2] == []
    AuditEvent.objects.filter(pk=e.pk).update(private={**e.private, "fields": {"booth": "Library"}})
    assert _problems() == [(e.seq, "content or its private part does not match its stored hash (altered)")]


# --- inserting and deleting --------------------------------------------------------------------------------


def test_insert_and_rechain_is_caught(anchored):
    election, actor, first, _second = anchored
    # Make room at #4 (descending: seq is unique), forge an entry there, re-chain everything after it.
    for e in AuditEvent.objects.filter(seq__gte=4).order_by("-seq"):
        AuditEvent.objects.filter(pk=e.pk).update(seq=e.seq + 1)
    forged = AuditEvent(
        v=2,
        seq=4,
        at=AuditEvent.objects.get(seq=3).at,
        actor_id=actor.pk,
        actor_name=actor.username,
        action="test.forged",
        election=election,
        object_type="",
        object_id="",
        data={},
        prev_hash="x",
        hash="pending",
    )
    forged.save()
    _rechain(4)
    assert (
        1,
        f"chain no longer matches the signed checkpoint #{first.pk} at seq 5 "
        "(the change is in entries #1 to #5)",
    ) in _problems()


def test_delete_in_the_middle_and_rechain_is_caught(anchored):
    _e, _a, _first, second = anchored
    AuditEvent.objects.filter(seq=7).delete()
    for e in AuditEvent.objects.filter(seq__gt=7).order_by("seq"):  # close the gap: no sequence hole
        AuditEvent.objects.filter(pk=e.pk).update(seq=e.seq - 1)
    _rechain(7, rekey=False)
    text = _text()
    assert f"entry #7: chain no longer matches the signed checkpoint #{second.pk} at seq 10" in text


def test_deleting_the_last_entries_below_the_checkpoint_is_caught(anchored):
    _e, _a, _first, second = anchored
    AuditEvent.objects.filter(seq__gte=9).delete()
    _rechain(9)  # only fixes the head row
    assert AuditHead.objects.get().seq == 8
    assert (
        9,
        f"entries #9 to #10 are missing: the log ends at #8 but the signed checkpoint #{second.pk} "
        "covers up to seq 10 (deleted)",
    ) in _problems()


def test_deleting_only_entries_after_the_last_checkpoint_with_the_head_fixed_is_not_detectable(anchored):
    """The documented limit (docs/verification.md 6): the tail after the latest checkpoint can be cut by
    someone who also fixes the head row; observers' noted heads and the next checkpoint are the defence."""
    AuditEvent.objects.filter(seq__gte=12).delete()
    _rechain(12)
    assert _problems() == []


# --- the checkpoints themselves ----------------------------------------------------------------------------


def test_forged_or_moved_checkpoint_is_caught(anchored):
    _e, _a, first, second = anchored
    AuditCheckpoint.objects.filter(pk=first.pk).update(seq=4, head=AuditEvent.objects.get(seq=4).hash)
    AuditCheckpoint.objects.filter(pk=second.pk).update(signature="00" * 64)
    text = _text()
    assert f"entry #4: signed checkpoint #{first.pk}: the signature does not verify (forged)" in text
    assert f"entry #10: signed checkpoint #{second.pk}: the signature does not verify (forged)" in text


def test_checkpoint_signed_with_another_key_is_caught(anchored, settings, tmp_path):
    settings.PB_AUDIT_KEY_FILE = str(tmp_path / "other.key")
    audit_keys.audit_key_generate(tmp_path / "other.key")
    assert all("not this server's audit key" in r for _s, r in _problems())
    settings.PB_AUDIT_KEY_FILE = str(tmp_path / "absent.key")
    assert "cannot check 2 signed checkpoints" in _text()


def test_phase_change_signs_a_checkpoint_and_deleting_it_is_caught():
    election, actor = ElectionFactory(), official()
    election_advance(actor=actor, election=election, to_phase=Phase.PROPOSALS_OPEN)
    cp = audit_latest_checkpoint()
    head = AuditHead.objects.get()
    assert (cp.seq, cp.head, cp.reason, cp.election_id) == (
        head.seq,
        head.hash,
        "phase:proposals_open",
        election.pk,
    )
    assert AuditEvent.objects.get(seq=cp.seq).action == "election.phase"
    call_command("audit_verify")
    cp.delete()
    assert _problems() == [(head.seq, "phase change without its signed checkpoint (deleted?)")]


def test_no_audit_key_refuses_the_phase_change_and_writes_nothing(settings, tmp_path):
    election, actor = ElectionFactory(), official()
    settings.PB_AUDIT_KEY_FILE = str(tmp_path / "keys" / "audit.key")
    settings.DEBUG = False
    with pytest.raises(audit_keys.AuditKeyMissing, match="audit_keygen"), transaction.atomic():
        election_advance(actor=actor, election=election, to_phase=Phase.PROPOSALS_OPEN)
    assert Election.objects.get(pk=election.pk).phase == Phase.DRAFT
    assert not AuditEvent.objects.exists() and not AuditCheckpoint.objects.exists()
    assert not (tmp_path / "keys" / "audit.key").exists()
    settings.DEBUG = True  # a local demo: the key is made on first use, mode 0600
    election_advance(actor=actor, election=election, to_phase=Phase.PROPOSALS_OPEN)
    assert stat.S_IMODE(os.stat(tmp_path / "keys" / "audit.key").st_mode) == 0o600
    assert audit_verify()[2] == []


def test_garbage_key_file_is_a_clear_error(settings, tmp_path):
    (tmp_path / "audit.key").write_text("not a key")
    settings.PB_AUDIT_KEY_FILE = str(tmp_path / "audit.key")
    with pytest.raises(audit_keys.AuditKeyMissing, match="not an unencrypted PEM private key"):
        audit_checkpoint(reason="test")


def test_audit_keygen_command(settings, tmp_path, capsys):
    path = tmp_path / "k" / "audit.key"
    settings.PB_AUDIT_KEY_FILE = str(path)
    call_command("audit_keygen", public_out=tmp_path / "audit.pub")
    out = capsys.readouterr().out
    info = audit_keys.audit_public_key()
    assert info.fingerprint in out and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert (tmp_path / "audit.pub").read_text() == info.pem
    with pytest.raises(CommandError, match="exists"):
        call_command("audit_keygen")
    assert audit_keys.audit_public_key() == info


def test_verify_command_reports_the_latest_checkpoint_or_names_the_problem(anchored, capsys):
    _e, _a, _first, second = anchored
    call_command("audit_verify")
    assert f"latest signed checkpoint #{second.pk} at seq 10" in capsys.readouterr().out
    AuditEvent.objects.filter(seq=3).update(data={"i": 99})
    _rechain(3)
    with pytest.raises(CommandError, match="BROKEN"):
        call_command("audit_verify")
    assert "entry #1: chain no longer matches the signed checkpoint" in capsys.readouterr().err


# --- versions and private entries --------------------------------------------------------------------------


def test_old_unkeyed_entries_still_verify_but_not_after_keyed_ones():
    election, actor = ElectionFactory(), official()
    _write(3, election, actor)
    _write(2, election, actor, 3)
    # Entries 1-3 as an older pb wrote them: version 1 payload, no MAC.
    AuditEvent.objects.filter(seq__lte=3).update(v=1, mac="")
    _rechain(1, rekey=False)
    AuditEvent.objects.filter(seq__gte=4).update(mac="")  # re-key 4-5 as the server would
    for e in AuditEvent.objects.filter(seq__gte=4):
        AuditEvent.objects.filter(pk=e.pk).update(mac=entry_mac(e.hash))
    assert "v" not in entry_payload(AuditEvent.objects.get(seq=1))
    assert audit_verify()[2] == []
    # Downgrading a keyed entry to version 1 to dodge its MAC is named.
    AuditEvent.objects.filter(seq=5).update(v=1)
    _rechain(5, rekey=False)
    assert _problems() == [(5, "unkeyed (version 1) entry after keyed entries (rewritten?)")]


def test_private_entry_publishes_only_the_day_and_a_commitment():
    election, clerk = ElectionFactory(), official()
    e = audit_record(
        actor=clerk,
        action="paper.voter_mark",
        election=election,
        obj=clerk,
        data={"pots": ["north"]},
        private={"booth": "Town hall"},
    )
    e.refresh_from_db()
    payload = entry_payload(e)
    assert payload["at"] == e.at.astimezone(dt.UTC).date().isoformat()
    assert payload["object_id"] == "" and payload["actor_id"] is None and payload["actor_name"] == ""
    assert payload["data"] == {"pots": ["north"]} and "Town hall" not in str(payload)
    assert canonical_hash(payload) == e.hash
    assert payload["private"] == auditlog.private_commitment(
        salt=e.private["salt"],
        at=e.at.isoformat(),
        actor_id=clerk.pk,
        actor_name=clerk.username,
        object_id=str(clerk.pk),
        fields={"booth": "Town hall"},
    )
    # Same fields, another entry: another salt, another commitment (no dictionary of booths and times).
    other = audit_record(
        actor=clerk,
        action="paper.voter_mark",
        election=election,
        obj=clerk,
        data={"pots": ["north"]},
        private={"booth": "Town hall"},
    )
    assert entry_payload(other)["private"] != payload["private"]


# --- concurrency -------------------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_and_checkpoints_never_sign_a_head_that_does_not_commit():
    """Writers and checkpoints queue on the head row's lock: every signed head is exactly the chain's hash at
    its seq, however the threads interleave."""
    import threading

    from django.db import connection

    election, actor = ElectionFactory(), official()
    audit_record(actor=actor, action="test.start", election=election)
    errors = []

    def writer(k):
        try:
            for i in range(15):
                audit_record(actor=actor, action="test.step", election=election, data={"k": k, "i": i})
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    def signer():
        try:
            for _ in range(10):
                with transaction.atomic():
                    audit_checkpoint(reason="test", election=election)
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(3)] + [
        threading.Thread(target=signer)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert AuditEvent.objects.count() == 46 and AuditCheckpoint.objects.count() == 10
    for cp in AuditCheckpoint.objects.all():
        assert AuditEvent.objects.get(seq=cp.seq).hash == cp.head
    assert audit_verify()[2] == []
