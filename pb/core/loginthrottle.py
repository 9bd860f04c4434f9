"""Sign-in throttling with django-axes: a locked (username, address) pair is refused before its password
is checked, and the sign-in page says for how long.

Settings (pb/settings.py): AXES_FAILURE_LIMIT (PB_LOGIN_FAILURES, 10) failures of one username from one
address (`pb.core.clientip.client_ip`, the same address the identification throttle uses) lock that pair
for AXES_COOLOFF_TIME (PB_LOGIN_LOCKOUT_MINUTES, 15). Other addresses can still sign in to the account and
other accounts from the address: a guesser cannot lock an official out of their own office.

One lock-out for every sign-in path: the sign-in page (allauth's view, for residents and officials alike), the
admin's, and the password check before an account is deleted. A resident may type their username or their
e-mail address: both count against the account's username, so switching between them gains no guesses.
"""

from __future__ import annotations

import math

from allauth.account.models import EmailAddress
from axes.backends import AxesStandaloneBackend
from axes.helpers import get_cool_off
from django.contrib.auth import get_user_model
from django.shortcuts import render
from django.utils.html import format_html
from django.utils.translation import ngettext


class LoginThrottleBackend(AxesStandaloneBackend):
    """Axes' check, for every sign-in through a request (the sign-in page, the admin's).

    `authenticate()` without a request (the test client's `login()`, a shell) has no address to count
    and is no way in from the network: it is passed on to the next backend instead of failing."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def _account_username(email: str) -> str | None:
    """The username of the one account with this e-mail address (confirmed or not), if there is one."""
    names = set(
        EmailAddress.objects.filter(email__iexact=email).values_list("user__username", flat=True)[:2]
    ) | set(get_user_model().objects.filter(email__iexact=email).values_list("username", flat=True)[:2])
    return names.pop() if len(names) == 1 else None


def login_username(request, credentials) -> str:
    """The username axes records (AXES_USERNAME_CALLABLE): the account's username, also when an e-mail address
    was typed (see above); otherwise what was typed, cut to 254 characters (the longest e-mail address; a
    longer one cannot be an account, and stored whole it overflowed axes' column: a 500)."""
    credentials = credentials or {}
    name = credentials.get("username") or credentials.get("email")
    if name is None and request is not None:
        name = request.POST.get("login") or request.POST.get("username", "")
    name = str(name or "").strip()[:254]
    if "@" in name:
        name = _account_username(name) or name.lower()
    return name


def lockout_message(request) -> str:
    cool_off = get_cool_off(request)
    minutes = max(1, math.ceil(cool_off.total_seconds() / 60)) if cool_off else 15
    return ngettext(
        "Too many failed sign-ins for this account from your connection. It is locked here for "
        "%(n)s minute; you can try again after that (or sign in from another connection).",
        "Too many failed sign-ins for this account from your connection. It is locked here for "
        "%(n)s minutes; you can try again after that (or sign in from another connection).",
        minutes,
    ) % {"n": minutes}


def lockout_response(request, original_response=None, credentials=None):
    """The sign-in page again, with the lock-out and its length (429 and Retry-After)."""
    from pb.core.accounts.forms import LoginForm

    cool_off = get_cool_off(request)
    seconds = int(cool_off.total_seconds()) if cool_off else 900
    typed = request.POST.get("login") or request.POST.get("username", "")
    form = LoginForm(request=request, initial={"login": typed[:254]})
    next_url = request.POST.get("next") or request.GET.get("next", "")
    ctx = {
        "form": form,
        "locked_out": lockout_message(request),
        "redirect_field": format_html('<input type="hidden" name="next" value="{}">', next_url)
        if next_url
        else "",
    }
    response = render(request, "account/login.html", ctx, status=429)
    response["Retry-After"] = str(seconds)
    return response
