"""pb.core.shells: a page rendered once and filled in per request is byte-for-byte the normal render."""

import re

import pytest
from django.contrib import messages
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.auth.models import User
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.http import HttpResponse
from django.middleware.csrf import _unmask_cipher_token as _csrf_secret
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.test import RequestFactory
from django.utils import translation

from pb.core import shells
from pb.core.models import Election, Pot

pytestmark = pytest.mark.django_db

TEMPLATE = "ballots/ballot_receipt.html"


def _request(user=None):
    request = RequestFactory().post("/vote/riverton/city/cast/")
    for mw in (SessionMiddleware, AuthenticationMiddleware, MessageMiddleware):
        mw(lambda r: HttpResponse()).process_request(request)
    if user is not None:
        request.user = user
    return request


def _context():
    election = Election.objects.create(name="Riverton", slug="riverton", currency="EUR")
    pot = Pot.objects.create(election=election, name="Citywide <&>", slug="city", is_citywide=True, budget=10)
    return {"election": election, "pot": pot, "pots_left": True}


@pytest.mark.parametrize("language", ["en", "vi", "zh-hans"])
def test_filled_shell_equals_a_normal_render(language):
    ctx = _context()
    with translation.override(language):
        for code in ("AAAA-BBBB-CCCC", "ZZZZ-1234-9X9X"):  # the second comes from the shell
            request = _request()
            got = shells.render_with_holes(request, TEMPLATE, ctx, holes={"receipt": code}, key=(1,))
            html = got.content.decode()
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
            assert _csrf_secret(token) == _csrf_secret(get_token(request))  # the request's own token
            want = render(request, TEMPLATE, {**ctx, "receipt": code, "csrf_token": token})
            assert got.content.decode() == want.content.decode()
            assert code in got.content.decode() and token in got.content.decode()
            assert "pbhole" not in got.content.decode()
    assert len(shells._SHELLS) == 1


def test_signed_in_users_and_pending_messages_get_a_normal_render():
    ctx = _context()
    user = User.objects.create_user("ana")
    got = shells.render_with_holes(_request(user), TEMPLATE, ctx, holes={"receipt": "AAAA"}, key=(1,))
    assert "Sign out (ana)" in got.content.decode()
    request = _request()
    messages.info(request, "Welcome back")
    got = shells.render_with_holes(request, TEMPLATE, ctx, holes={"receipt": "AAAA"}, key=(1,))
    assert "Welcome back" in got.content.decode()
    assert not shells._SHELLS  # neither was cached


def test_a_hole_value_that_escaping_would_change_is_rendered_normally():
    ctx = _context()
    got = shells.render_with_holes(_request(), TEMPLATE, ctx, holes={"receipt": "<b>"}, key=(1,))
    assert "&lt;b&gt;" in got.content.decode() and not shells._SHELLS
