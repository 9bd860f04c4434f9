"""Login stages (allauth's adapter lists them)."""

from __future__ import annotations

from allauth.account.models import EmailAddress
from allauth.account.stages import EmailVerificationStage

from pb.core.accounts.selectors import account_administered


class ResidentEmailVerificationStage(EmailVerificationStage):
    """A confirmed e-mail address is required of accounts made by sign-up, which always have an address row.

    Official and council accounts are made by administrators (admin, `grant_role`) and have none: they sign
    in with their username and password as before, without a confirmation e-mail they could never get; an
    official who adds an address on the e-mail page is not locked out by it either. A sign-up itself is never
    let through here, whatever happened to its address."""

    def handle(self):
        user = self.login.user
        if (
            not self.login.signup
            and user is not None
            and user.pk
            and (account_administered(user) or not EmailAddress.objects.filter(user=user).exists())
        ):
            return None, True
        return super().handle()
