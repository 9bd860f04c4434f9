"""Reads about an account: the data a resident downloads."""

from __future__ import annotations

from typing import Any

from allauth.account.models import EmailAddress
from django.utils import timezone

from pb.core.accounts.hooks import account_data_hooks
from pb.core.models import user_roles_anywhere

EXPORT_FORMAT = "pb-account-data/1"


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def account_administered(user) -> bool:
    """An official's, a council member's or an administrator's account: made and removed by administrators,
    never held to e-mail confirmation, never deleted by its holder (what they did must keep naming them)."""
    return bool(user.is_staff or user.is_superuser or user_roles_anywhere(user))


def account_export(*, user) -> dict[str, Any]:
    """Everything pb holds about `user` as an account, JSON-ready. Ballots are not in it: they are not linked
    to accounts at all (ballots.models: participation and ballots carry no account)."""
    return {
        "format": EXPORT_FORMAT,
        "exported_at": _iso(timezone.now().replace(microsecond=0)),
        "account": {
            "username": user.get_username(),
            "email": user.email,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "date_joined": _iso(user.date_joined),
            "last_login": _iso(user.last_login),
        },
        "email_addresses": [
            {"email": a.email, "verified": a.verified, "primary": a.primary}
            for a in EmailAddress.objects.filter(user=user).order_by("-primary", "email")
        ],
        **{hook.name: hook.export(user) for hook in account_data_hooks()},
    }
