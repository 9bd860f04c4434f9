"""The secret ballot, by construction: nothing in the schema links a Ballot to a voter.

Checked by introspecting every installed model, so that a field added later anywhere (a FK on Ballot, or a
new table holding both a ballot and a voter) fails here."""

import uuid

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.db import models

from ballots.ballotbox.sealing import secrecy_summary
from ballots.definition import definition_changed, frozen_definition
from ballots.models import Ballot, Participation, VoterRollEntry, VotingCode
from tally.closing import close_confirm, close_request

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
        Ballot.objects.create(election=v.election, pot=v.city, receipt_hash=f"{i:064x}", sealed_batch=1).id
        for i in range(64)
    ]
    assert all(i.version == 4 for i in ids)
    assert ids != sorted(ids)  # a 1 in 64! chance of failing by accident


# --- Pending ballots: encrypted at rest until sealed ------------------------------------------------------


def test_pending_ballot_has_no_person_time_or_clear_content_column():
    from ballots.models import PendingBallot

    assert not _closure(PendingBallot) & PERSONAL
    names = {f.name for f in PendingBallot._meta.concrete_fields}
    assert names == {"id", "election", "pot", "content"}, names
    for f in PendingBallot._meta.concrete_fields:
        assert not isinstance(f, models.DateTimeField | models.DateField | models.AutoField), f.name


def test_sealed_batch_is_not_null_in_the_database():
    """A Ballot row exists only once sealed: written with its batch, never updated (no old row versions)."""
    assert not Ballot._meta.get_field("sealed_batch").null


def test_ciphertext_hides_content_and_size():
    from ballots.ballotbox import pending

    small = pending.encrypt(
        election_id=1, pot_id=2, projects=["A"], points={}, is_paper=False, receipt_hash="0" * 64
    )
    big = pending.encrypt(
        election_id=1,
        pot_id=2,
        projects=[f"PROJECT-{i}" for i in range(8)],
        points={f"PROJECT-{i}": 5 for i in range(8)},
        is_paper=True,
        receipt_hash="f" * 64,
    )
    assert len(small) == len(big)  # how many projects a voter chose does not show in the row's size
    assert b"PROJECT" not in big and b"f" * 64 not in big
    again = pending.encrypt(
        election_id=1, pot_id=2, projects=["A"], points={}, is_paper=False, receipt_hash="0" * 64
    )
    assert again != small  # a fresh nonce: equal ballots do not give equal rows
    opened = pending.decrypt(election_id=1, pot_id=2, content=big)
    assert opened.projects[0] == "PROJECT-0" and opened.points["PROJECT-7"] == 5 and opened.is_paper


@pytest.mark.parametrize("attack", ["flip", "other_pot", "other_election", "truncate", "garbage", "key"])
def test_altered_or_moved_pending_ballot_is_refused_clearly(attack, settings):
    from ballots.ballotbox import pending

    content = pending.encrypt(
        election_id=1, pot_id=2, projects=["A"], points={}, is_paper=False, receipt_hash="0" * 64
    )
    where = {"election_id": 1, "pot_id": 2}
    if attack == "flip":
        content = content[:20] + bytes([content[20] ^ 1]) + content[21:]
    elif attack == "other_pot":
        where["pot_id"] = 3  # a DBA moves a ballot into another pot
    elif attack == "other_election":
        where["election_id"] = 9
    elif attack == "truncate":
        content = content[:30]
    elif attack == "garbage":
        content = b"\x00" * 5
    elif attack == "key":
        settings.PB_HMAC_KEY = "another key entirely"
    with pytest.raises(pending.PendingBallotUnreadable) as exc:
        pending.decrypt(content=content, **where)
    assert "PB_HMAC_KEY" in exc.value.message


# --- Batches: never under K, one pot each ------------------------------------------------------------------


def _simulate(casts: list[int], k: int, after: int, hold: set[int] = frozenset()) -> dict[int, list[int]]:
    """Batch sizes per pot for a sequence of casts (pot per cast), sealed as the cast hook and the close do
    (with SEAL_AFTER_CAST = `after`)."""
    from ballots.ballotbox import sealing

    saved, sealing.SEAL_AFTER_CAST = sealing.SEAL_AFTER_CAST, after
    try:
        return _batches(casts, k, hold, sealing._seal_count)
    finally:
        sealing.SEAL_AFTER_CAST = saved


def _batches(casts, k, hold, _seal_count) -> dict[int, list[int]]:
    pending: dict[int, int] = {}
    batches: dict[int, list[int]] = {}
    for pot in casts:
        pending[pot] = pending.get(pot, 0) + 1
        take = _seal_count(pending[pot], k, final=False, hold=False)
        if take:
            assert take >= k and pending[pot] - take == k
            batches.setdefault(pot, []).append(take)
            pending[pot] -= take
    for pot, n in pending.items():  # the close, then the count
        for hold_now in (pot in hold, False):
            take = _seal_count(n, k, final=True, hold=hold_now)
            if take:
                batches.setdefault(pot, []).append(take)
                n -= take
        assert n == 0
    return batches


@pytest.mark.parametrize("k", [1, 2, 5, 20, 50])
def test_no_batch_under_k_for_any_sequence_of_casts(k):
    import random

    rnd = random.Random(k)
    for trial in range(300):
        n = rnd.randint(0, 400)
        pots = rnd.randint(1, 4)
        casts = [rnd.randrange(pots) for _ in range(n)]
        hold = {p for p in range(pots) if rnd.random() < 0.5}
        for pot, sizes in _simulate(casts, k, rnd.choice([k, 50, 3]), hold).items():
            total = sum(sizes)
            assert total == casts.count(pot)
            if total < k:
                assert sizes == [total], (trial, sizes)  # fewer than K in all: one batch (flagged)
            else:
                assert min(sizes) >= k, (trial, sizes)


def test_51_voters_make_no_batch_under_k():
    """Today's demo failure: 51 voters were sealed as [50, 1]."""
    assert _simulate([0] * 51, 20, 50) == {0: [51]}
    assert _simulate([0] * 90, 20, 50) == {0: [50, 40]}
    assert _simulate([0] * 71, 20, 50) == {0: [50, 21]}


# --- Turnout: no cell under K ----------------------------------------------------------------------------


def test_turnout_hiding_leaves_nothing_to_subtract():
    from ballots.casting.selectors import turnout_hidden

    assert turnout_hidden({"online": 100, "booth": 30, "paper": 0}, 20) == set()
    # One small cell alone could be worked out from the total: the smallest other one goes with it.
    assert turnout_hidden({"online": 100, "booth": 30, "paper": 2}, 20) == {"paper", "booth"}
    # Two small cells adding up to K or more hide each other.
    assert turnout_hidden({"online": 100, "a": 12, "b": 9}, 20) == {"a", "b"}
    # Under K in all: everything hidden (the exact total is shown, flagged).
    assert turnout_hidden({"online": 3, "paper": 1}, 20) == {"online", "paper"}
    import random

    rnd = random.Random(5)
    for _ in range(2000):
        k = rnd.randint(1, 30)
        cells = {
            i: rnd.choice([0, rnd.randint(1, k), rnd.randint(1, 3 * k)]) for i in range(rnd.randint(1, 6))
        }
        hidden = turnout_hidden(cells, k)
        shown = [n for key, n in cells.items() if key not in hidden]
        held = sum(cells.values()) - sum(shown)  # what an adversary can compute from the exact total
        assert all(n == 0 or n >= k for n in shown)
        assert held == 0 or held >= k or not shown or all(n == 0 for n in shown)


@pytest.mark.django_db
def test_public_turnout_merges_small_booths_into_other():
    import datetime as dt

    from ballots.casting.selectors import turnout_public
    from ballots.models import Channel, Participation
    from tests.ballots.cast_support import build_voting
    from tests.ballots.roll_support import make_voter

    v = build_voting()
    plan = [(Channel.ONLINE, "", 40), (Channel.BOOTH, "Library", 25), (Channel.BOOTH, "School", 2)]
    plan += [(Channel.PAPER, "Town hall", 1)]
    k = 0
    for channel, booth, n in plan:
        for _ in range(n):
            k += 1
            voter = make_voter(v.election, v.district, ref=f"T-{k}")
            Participation.objects.create(
                election=v.election,
                pot=v.city,
                voter=voter,
                channel=channel,
                booth=booth,
                day=dt.date(2026, 6, 1),
            )
    for voter_n in range(3):  # a district pot with 3 voters in all
        voter = make_voter(v.election, v.other, ref=f"W-{voter_n}")
        Participation.objects.create(
            election=v.election, pot=v.other, voter=voter, channel=Channel.ONLINE, day=dt.date(2026, 6, 1)
        )
    rows = turnout_public(v.election, anonymity_k=20)
    city = [r for r in rows if r["pot"] == v.city]
    assert sum(r["n"] for r in city) == 68  # the pot's total stays exact
    assert all(r["n"] >= 20 for r in city)
    shown = {(r["channel"], r["booth"]): r["n"] for r in city if not r["merged"]}
    assert shown == {("online", ""): 40}  # Library (25) went into "other" with School and Town hall
    (other,) = [r for r in city if r["merged"]]
    assert other["n"] == 28 and not other["under_k"]
    (wola,) = [r for r in rows if r["pot"] == v.other]
    assert wola["merged"] and wola["under_k"] and wola["n"] == 3


@pytest.mark.django_db
def test_a_copied_or_moved_pending_row_stops_the_close_with_a_clear_error(settings, tmp_path):
    """A DBA who duplicates a pending ballot (to count it twice) or moves one into another pot does not get
    it sealed: the close refuses, says why, and changes nothing."""
    from ballots.models import PendingBallot
    from pb.core.exceptions import DomainError

    pass
    from ballots.models import LogBatch
    from tests.tally.conftest import World

    settings.PB_VAR_DIR = tmp_path
    world = World(n_online=6, n_paper=0)
    row = PendingBallot.objects.filter(pot=world.north).first() or PendingBallot.objects.first()
    PendingBallot.objects.create(election=world.election, pot=row.pot, content=bytes(row.content))
    close_request(actor=world.o1, election=world.election)
    with pytest.raises(DomainError) as exc:
        close_confirm(actor=world.o2, election=world.election)
    assert "same receipt" in exc.value.message
    assert not LogBatch.objects.exists() and PendingBallot.objects.count() == 7
    PendingBallot.objects.filter(content=bytes(row.content)).exclude(pk=row.pk).delete()
    other = world.south if row.pot == world.north else world.north
    PendingBallot.objects.filter(pk=row.pk).update(pot=other)
    with pytest.raises(DomainError) as exc:
        close_confirm(actor=world.o2, election=world.election)
    assert "cannot be decrypted" in exc.value.message
    assert not LogBatch.objects.exists() and not Ballot.objects.exists()


@pytest.mark.django_db
def test_k_is_frozen_with_the_definition(settings, tmp_path):
    """K comes from PB_ANONYMITY_K at opening and stays: changing the setting later changes nothing, and a
    definition frozen before K existed means 20."""
    import hashlib
    import json

    from ballots.ballotbox import pending
    from ballots.casting import castctx
    from ballots.models import DefinitionFreeze
    from tests.tally.conftest import World

    settings.PB_VAR_DIR = tmp_path
    settings.PB_ANONYMITY_K = 7
    world = World(n_online=0, n_paper=0)
    definition, _sha = frozen_definition(world.election)
    assert definition["secrecy"] == {"anonymity_k": 7}
    assert castctx.frozen_anonymity_k(world.election.pk) == 7
    settings.PB_ANONYMITY_K = 50
    assert not definition_changed(world.election)
    assert pending.anonymity_k(frozen_definition(world.election)[0]) == 7
    # A definition frozen before the "secrecy" section existed.
    old = {k: v for k, v in definition.items() if k != "secrecy"}
    canonical = json.dumps(old)
    DefinitionFreeze.objects.filter(election=world.election).update(
        canonical=canonical, sha256=hashlib.sha256(canonical.encode()).hexdigest()
    )
    assert pending.anonymity_k(old) == pending.DEFAULT_ANONYMITY_K == 20
    assert not definition_changed(world.election)
    assert castctx.frozen_anonymity_k(world.election.pk) == 20


@pytest.mark.django_db
def test_a_straggler_batch_under_k_flags_its_pot(settings, tmp_path):
    """A cast that slipped in after the close's seal (it read "voting open" just before the close committed)
    is sealed at the count in a batch of its own: the pot is flagged, not silently weaker."""
    pass
    from tests.tally.conftest import World

    settings.PB_VAR_DIR = tmp_path
    world = World(n_online=0, n_paper=10)  # a roll of 30 per pot
    world.n_paper = 0
    for _ in range(25):
        world.cast(world.north)
        world.cast(world.south)
    world.close()
    world.cast(world.north)  # the straggler: its participation and its pending ballot, after the close
    run = world.tally()
    assert run.status == "done", run.error
    definition = frozen_definition(world.election)[0]
    flagged = secrecy_summary(definition, run.summary, world.election)
    assert flagged == {"anonymity_k": 20, "pots_under_k": ["north"]}
    assert secrecy_summary(definition, run.summary)["pots_under_k"] == []  # totals alone miss it
