"""`Election.content_version`: a count raised after every committed change to one of an election's pots or
proposals, so that what a page keeps of them in Django's cache (the ballot's projects and texts, the cast's
pot context: ballots.casting) can be keyed, or checked, by it, in every process at once.

Each app connects its own models (`track(Model)` in its AppConfig.ready: pots here, proposals in
`proposals`): a save or a deletion through the ORM raises the version once its transaction commits, in a
statement of its own (so it never holds the election's row lock while waiting for another: no lock-order
cycle with a phase change), and a reader that saw the new version reads the new rows. Writes that bypass
`save()` (`QuerySet.update`, bulk writes) call `content_changed(election_id)` themselves, or change
nothing a cached page shows.
"""

from __future__ import annotations

from functools import partial

from django.db import transaction
from django.db.models import F
from django.db.models.signals import post_delete, post_save


def content_changed(election_id: int | None) -> None:
    """Raise the election's content version when the current transaction commits (at once outside one)."""
    if election_id is not None:
        transaction.on_commit(partial(_raise, election_id))


def _raise(election_id: int) -> None:
    from pb.core.models import Election

    Election.objects.filter(pk=election_id).update(content_version=F("content_version") + 1)


def _changed(sender, instance, **kwargs) -> None:
    if kwargs.get("raw"):  # loading fixtures
        return
    content_changed(getattr(instance, "election_id", None))


def track(model) -> None:
    """Raise the content version of the instance's election (`election_id`) on every save and deletion."""
    uid = f"pb.core.content:{model._meta.label}"
    post_save.connect(_changed, sender=model, dispatch_uid=uid)
    post_delete.connect(_changed, sender=model, dispatch_uid=uid)
