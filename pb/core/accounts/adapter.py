"""allauth's adapter for pb: our client address, our login stages, usernames that say nothing of a person."""

from __future__ import annotations

import secrets

from allauth.account.adapter import DefaultAccountAdapter
from django.contrib.auth import get_user_model

from pb.core.clientip import client_ip

_VERIFY_STAGE = "allauth.account.stages.EmailVerificationStage"


class AccountAdapter(DefaultAccountAdapter):
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
