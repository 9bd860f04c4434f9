"""Audit entries written without the chain's lock (online identifications): chained later, in order, exactly
once, before anything that reads or signs the chain; a voter's identification never waits for the lock."""

import threading
import time

import pytest
from django.db import connection, connections, transaction

from pb.core.audit import audit_checkpoint, audit_fold, audit_record, audit_verify
from pb.core.models import AuditCheckpoint, AuditEvent, AuditHead, AuditPending
from tests.factories import ElectionFactory, official

pytestmark = pytest.mark.django_db


def _deferred(election, i):
    return audit_record(actor=None, action="test.deferred", election=election, data={"i": i}, deferred=True)


def test_pending_entries_are_chained_in_order_before_the_next_entry(settings):
    settings.PB_AUDIT_FOLD_EVERY = 10**9  # no writer folds: only what reads or writes the chain does
    election, actor = ElectionFactory(), official()
    audit_record(actor=actor, action="test.first", election=election)
    for i in range(3):
        _deferred(election, i)
    assert AuditPending.objects.count() == 3 and AuditEvent.objects.count() == 1
    audit_record(actor=actor, action="test.after", election=election)  # chains the three first
    chain = list(AuditEvent.objects.order_by("seq").values_list("action", "data"))
    assert chain == [
        ("test.first", {}),
        ("test.deferred", {"i": 0}),
        ("test.deferred", {"i": 1}),
        ("test.deferred", {"i": 2}),
        ("test.after", {}),
    ]
    assert not AuditPending.objects.exists()
    head = AuditHead.objects.get()
    assert head.seq == 5 and head.hash == AuditEvent.objects.get(seq=5).hash
    assert audit_verify()[2] == []


def test_a_checkpoint_signs_pending_entries_and_verify_chains_them(settings):
    settings.PB_AUDIT_FOLD_EVERY = 10**9
    election = ElectionFactory()
    _deferred(election, 0)
    cp = audit_checkpoint(reason="test", election=election)
    assert cp.seq == 1 and cp.head == AuditEvent.objects.get(seq=1).hash
    _deferred(election, 1)
    _head, count, problems = audit_verify()  # chains the pending entry before checking
    assert count == 2 and problems == [] and not AuditPending.objects.exists()


def test_the_private_part_of_a_pending_entry_survives_chaining(settings):
    settings.PB_AUDIT_FOLD_EVERY = 10**9
    election = ElectionFactory()
    audit_record(
        actor=None, action="voter.identify", election=election, obj=election, private={}, deferred=True
    )
    audit_fold()
    event = AuditEvent.objects.get()
    assert event.private["fields"] == {} and len(event.private["salt"]) == 32
    assert audit_verify()[2] == []


def test_every_nth_writer_chains_after_its_commit(settings, django_capture_on_commit_callbacks):
    settings.PB_AUDIT_FOLD_EVERY = 1
    election = ElectionFactory()
    with django_capture_on_commit_callbacks(execute=True):
        _deferred(election, 0)
    assert AuditEvent.objects.filter(action="test.deferred").count() == 1
    assert not AuditPending.objects.exists()


def test_a_rolled_back_identification_leaves_no_entry(settings):
    settings.PB_AUDIT_FOLD_EVERY = 10**9
    election = ElectionFactory()
    with pytest.raises(RuntimeError), transaction.atomic():
        _deferred(election, 0)
        raise RuntimeError("the identification failed after writing its entry")
    assert audit_fold() == 0 and not AuditEvent.objects.exists()


# --- PostgreSQL: no waiting, no loss, no doubles ------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_identifying_does_not_wait_for_a_held_chain_lock(settings):
    """While another transaction holds the chain's head lock (a long official action), deferred entries are
    written at once; a non-waiting fold gives up; the entries are chained when the lock is released."""
    settings.PB_AUDIT_FOLD_EVERY = 1  # every writer tries to fold, and must not wait either
    election, actor = ElectionFactory(), official()
    audit_record(actor=actor, action="test.start", election=election)
    holding, release = threading.Event(), threading.Event()

    def hold_lock():
        try:
            with transaction.atomic():
                AuditHead.objects.select_for_update().get(pk=1)
                holding.set()
                release.wait(10)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    assert holding.wait(5)
    try:
        t0 = time.monotonic()
        for i in range(5):
            with transaction.atomic():
                _deferred(election, i)
        assert audit_fold(wait=False) == 0
        elapsed = time.monotonic() - t0
    finally:
        release.set()
        holder.join()
    assert elapsed < 2, f"deferred writes waited {elapsed:.1f} s for the head lock"
    assert AuditPending.objects.count() == 5
    assert audit_fold() == 5
    assert AuditEvent.objects.filter(action="test.deferred").count() == 5
    assert audit_verify()[2] == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_folders_and_checkpoints_chain_each_entry_once(settings):
    settings.PB_AUDIT_FOLD_EVERY = 3
    election, actor = ElectionFactory(), official()
    errors = []

    def writer(k):
        try:
            for i in range(30):
                with transaction.atomic():
                    _deferred(election, k * 100 + i)
                if i % 7 == 0:
                    audit_record(actor=actor, action="test.official", election=election, data={"k": k})
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    def signer():
        try:
            for _ in range(5):
                audit_checkpoint(reason="test", election=election)
                audit_fold(wait=False)
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    threads.append(threading.Thread(target=signer))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    connections.close_all()
    assert errors == []
    audit_fold()
    deferred = list(AuditEvent.objects.filter(action="test.deferred").values_list("data", flat=True))
    assert sorted(d["i"] for d in deferred) == sorted(k * 100 + i for k in range(4) for i in range(30))
    assert AuditEvent.objects.filter(action="test.official").count() == 4 * 5
    assert not AuditPending.objects.exists()
    for cp in AuditCheckpoint.objects.all():
        assert AuditEvent.objects.get(seq=cp.seq).hash == cp.head
    assert audit_verify()[2] == []
