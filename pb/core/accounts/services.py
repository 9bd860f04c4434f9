"""Account deletion."""

from __future__ import annotations

from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import ProtectedError
from django.utils.translation import gettext as _

from pb.core.accounts.hooks import account_data_hooks
from pb.core.accounts.selectors import account_administered
from pb.core.audit import audit_record
from pb.core.exceptions import DomainError, PermissionDenied


class AccountNotDeletable(DomainError):
    status_code = 409


def account_deletable(user) -> bool:
    """Residents delete their own account; official and council accounts (and administrators) are removed by
    an administrator, since what they did (reviews, counts, sign-offs) must keep naming them."""
    return not account_administered(user)


@transaction.atomic
def account_delete(*, actor, user) -> dict[str, int]:
    """Delete `user`'s account: the user row, its e-mail addresses and sign-in records go; each app erases
    what it holds through its hook (proposals: drafts deleted, submitted ones kept without their author).

    Ballots and participation are never touched: neither is linked to an account. The audit entry names the
    account by its username (a random handle for residents) and counts what was kept or deleted."""
    if not getattr(actor, "is_authenticated", False) or actor.pk != user.pk:
        raise PermissionDenied(_("You can only delete your own account."))
    if not account_deletable(user):
        raise AccountNotDeletable(
            _("Official and council accounts are removed by an administrator. Please ask one.")
        )
    # Row lock on the account: two deletions at once (a double click, two tabs) queue here; the second finds
    # no row and stops, instead of writing a second audit entry for an account already gone.
    if not get_user_model().objects.select_for_update().filter(pk=user.pk).exists():
        raise AccountNotDeletable(_("This account has already been deleted."))
    summary: dict[str, int] = {}
    for hook in account_data_hooks():
        for key, value in hook.erase(user).items():
            summary[f"{hook.name}.{key}"] = value
    audit_record(actor=user, action="account.delete", obj=user, data=summary)
    # Sign-in records name the account (and an e-mail address typed as a login): not kept once it is gone.
    names = {user.get_username(), user.email, *user.emailaddress_set.values_list("email", flat=True)}
    names.discard("")
    for model in (AccessAttempt, AccessLog, AccessFailureLog):
        model.objects.filter(username__in=names).delete()
    try:
        user.delete()
    except ProtectedError as exc:
        # Something still needs this account (e.g. an official's paper batch): refuse, change nothing.
        raise AccountNotDeletable(
            _("This account is still needed by election records. Please ask an administrator.")
        ) from exc
    return summary
