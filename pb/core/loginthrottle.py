"""Sign-in throttling with django-axes: a locked (username, address) pair is refused before its password
is checked, and the sign-in page says for how long.

Settings (pb/settings.py): AXES_FAILURE_LIMIT (PB_LOGIN_FAILURES, 10) failures of one username from one
address (`pb.core.clientip.client_ip`, the same address the identification throttle uses) lock that pair
for AXES_COOLOFF_TIME (PB_LOGIN_LOCKOUT_MINUTES, 15). Other addresses can still sign in to the account and
other accounts from the address: a guesser cannot lock an official out of their own office.
"""

from __future__ import annotations

import math

from axes.backends import AxesStandaloneBackend
from axes.helpers import get_cool_off
from django.contrib.auth.forms import AuthenticationForm
from django.shortcuts import render
from django.utils.translation import ngettext


class LoginThrottleBackend(AxesStandaloneBackend):
    """Axes' check, for every sign-in through a request (the sign-in page, the admin's).

    `authenticate()` without a request (the test client's `login()`, a shell) has no address to count
    and is no way in from the network: it is passed on to the next backend instead of failing."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def login_username(request, credentials) -> str:
    """The username axes records (AXES_USERNAME_CALLABLE): at most 150 characters, Django's longest
    username. A longer one cannot be an account; stored whole it overflowed axes' column (a 500)."""
    name = (credentials or {}).get("username")
    if name is None and request is not None:
        name = request.POST.get("username", "")
    return str(name or "")[:150]


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
    cool_off = get_cool_off(request)
    seconds = int(cool_off.total_seconds()) if cool_off else 900
    username = (credentials or {}).get("username") or request.POST.get("username", "")
    form = AuthenticationForm(request, initial={"username": username})
    ctx = {
        "form": form,
        "locked_out": lockout_message(request),
        "next": request.POST.get("next") or request.GET.get("next", ""),
    }
    response = render(request, "registration/login.html", ctx, status=429)
    response["Retry-After"] = str(seconds)
    return response
