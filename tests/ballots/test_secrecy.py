"""The secret ballot, by construction: nothing in the schema links a Ballot to a voter.

Checked by introspecting every installed model, so that a field added later anywhere (a FK on Ballot, or a
new table holding both a ballot and a voter) fails here."""

import uuid

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.db import models

from ballots.models import Ballot, Participation, VoterRollEntry, VotingCode

# Rows of these identify (or lead to) a person.
PERSONAL = {VoterRollEntry, VotingCode, Participation, get_user_model(), Session}


def _forward(model) -> set:
    """Models a row of `model` points to directly (FK, one-to-one, many-to-many, declared on `model`)."""
    out = set()
    for f in model._meta.get_fields():
        # Declared relations only (reverse accessors are auto_created); many-to-many ones included.
        if f.is_relation and not f.auto_created and f.related_model is not None:
            out.add(f.related_model)
    return out


def _closure(model) -> set:
    seen, todo = set(), [model]
    while todo:
        m = todo.pop()
        for n in _forward(m):
            if n not in seen:
                seen.add(n)
                todo.append(n)
    return seen


def test_no_foreign_key_path_from_ballot_to_a_person():
    reached = _closure(Ballot)
    assert not reached & PERSONAL, f"Ballot reaches {reached & PERSONAL}"


def test_no_table_joins_a_ballot_to_a_person():
    """Any model whose rows point (transitively) to a Ballot must not also point to a person."""
    for model in apps.get_models():
        reached = _closure(model)
        if model is Ballot or Ballot in reached:
            assert not reached & PERSONAL, f"{model.__name__} joins Ballot to {reached & PERSONAL}"


def test_ballot_has_no_time_voter_session_or_ip_column():
    names = {f.name for f in Ballot._meta.get_fields()}
    for f in Ballot._meta.concrete_fields:
        assert not isinstance(f, models.DateTimeField | models.DateField | models.TimeField), f.name
        assert not isinstance(f, models.GenericIPAddressField), f.name
        assert not isinstance(f, models.AutoField | models.BigAutoField), "sequential ids leak order"
    for bad in ("voter", "user", "session", "ip", "created", "created_at", "cast_at", "timestamp", "channel"):
        assert bad not in names, bad


def test_ballot_ids_are_random_uuid4():
    pk = Ballot._meta.pk
    assert isinstance(pk, models.UUIDField)
    assert pk.default is uuid.uuid4
    assert Ballot._meta.ordering == [], "a default ordering must not suggest an insertion order"


def test_participation_keeps_only_the_day():
    for f in Participation._meta.concrete_fields:
        assert not isinstance(f, models.DateTimeField | models.TimeField), f.name
    assert isinstance(Participation._meta.get_field("day"), models.DateField)


def test_ballot_is_not_in_the_admin():
    """No partial results: the admin must not list ballots (their contents) before publication."""
    from django.contrib import admin

    from ballots.models import PaperBatch, PaperEntry

    assert Ballot not in admin.site._registry
    assert PaperEntry not in admin.site._registry
    if PaperBatch in admin.site._registry:
        assert {"rejected", "resolution"} <= set(admin.site._registry[PaperBatch].exclude or ())


@pytest.mark.django_db
def test_ballot_ids_do_not_follow_insertion_order():
    from tests.ballots.cast_support import build_voting

    v = build_voting()
    ids = [
        Ballot.objects.create(election=v.election, pot=v.city, receipt_hash=f"{i:064x}").id for i in range(64)
    ]
    assert all(i.version == 4 for i in ids)
    assert ids != sorted(ids)  # a 1 in 64! chance of failing by accident
