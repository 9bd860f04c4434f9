"""allauth's adapter for pb: our client address, our login stages, usernames that say nothing of a person."""

from __future__ import annotations

import secrets

from allauth.account.adapter import DefaultAccountAdapter
from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _

from pb.core.clientip import client_ip

_VERIFY_STAGE = "allauth.account.stages.EmailVerificationStage"


class AccountAdapter(DefaultAccountAdapter):
    # The messages residents can meet, in our words and our catalogue (allauth has no Vietnamese one).
    error_messages = {
        **DefaultAccountAdapter.error_messages,
        "account_inactive": _("This account has been disabled by an administrator."),
        "cannot_remove_primary_email": _("Your current e-mail address cannot be removed; change it instead."),
        "duplicate_email": _("This is already your e-mail address."),
        "email_password_mismatch": _("The e-mail address or the password is not correct."),
        "username_password_mismatch": _("The username or e-mail address, or the password, is not correct."),
        "email_taken": _("Another account already has this e-mail address."),
        "enter_current_password": _("Please type your current password."),
        "incorrect_password": _("That is not your password."),
        "invalid_password_reset": _("This link has expired or has been used already."),
        "unverified_primary_email": _("Your e-mail address must be confirmed first."),
        "same_as_current": _("The new value must be different from the current one."),
        "rate_limited": _("Too many requests from your connection. Please wait a few minutes and try again."),
    }

    def get_client_ip(self, request) -> str:
        # The address axes and the identification throttle use (X-Forwarded-For only from our proxies).
        return client_ip(request)

    def get_login_stages(self) -> list[str]:
        return [
            "pb.core.accounts.stages.ResidentEmailVerificationStage" if s == _VERIFY_STAGE else s
            for s in super().get_login_stages()
        ]

    def populate_username(self, request, user) -> None:
        """A random handle ("resident-3f9c2a71b0"), not one made from the e-mail address: usernames are
        written into the audit log, which can never be rewritten, so they must not identify the resident."""
        if user.username:
            return
        User = get_user_model()
        while True:
            candidate = f"resident-{secrets.token_hex(5)}"
            if not User.objects.filter(username=candidate).exists():
                user.username = candidate
                return
