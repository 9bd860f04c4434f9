"""Our 404/403/500 pages in the demo (DEBUG on) as in production: never the URLconf listing or a traceback
to a visitor, unless PB_TECHNICAL_ERRORS asks for Django's technical pages."""

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client
from django.urls import path

from pb.urls import handler400, handler403, handler404, handler500
from pb.urls import urlpatterns as pb_urlpatterns

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.core.test_error_pages")]


def _boom(request):
    raise RuntimeError("secret internals: DATABASE password=hunter2")


def _forbidden(request):
    raise PermissionDenied("internal reason")


urlpatterns = [*pb_urlpatterns, path("boom/", _boom), path("forbidden/", _forbidden)]
__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]

LEAKS = ("URLconf", "urlpatterns", "Traceback", "hunter2", "DATABASE", "technical", "settings")


def _visitor():
    return Client(raise_request_exception=False)


@pytest.fixture(params=[True, False], ids=["debug", "production"])
def debug(request, settings):
    settings.DEBUG = request.param
    settings.PB_TECHNICAL_ERRORS = False
    return request.param


def _ours(r, status: int, title: str) -> str:
    html = r.content.decode()
    assert r.status_code == status
    assert f"<h1>{title}</h1>" in html and 'id="error-message"' in html
    for leak in LEAKS:
        assert leak not in html, leak
    return html


def test_unknown_address_is_our_404(debug):
    r = _visitor().get("/no/such/page/")
    _ours(r, 404, "Page not found")


def test_missing_object_is_our_404(debug):
    r = _visitor().get("/elections/no-such-election/")
    _ours(r, 404, "Page not found")


def test_permission_denied_is_our_403(debug):
    r = _visitor().get("/forbidden/")
    html = _ours(r, 403, "Not allowed")
    assert "internal reason" not in html


def test_crash_is_our_500_and_is_logged(debug, caplog):
    r = _visitor().get("/boom/")
    _ours(r, 500, "Something went wrong")
    assert any("hunter2" in (rec.exc_text or "") or rec.exc_info for rec in caplog.records)


def test_missing_slash_still_redirects(debug):
    r = _visitor().get("/accounts/login")
    assert r.status_code == 301 and r["Location"] == "/accounts/login/"


def test_a_pages_own_error_is_kept(debug, client):
    """A view that answers 404/403 itself with a useful message keeps it (only Django's are replaced)."""
    from tests.factories import ElectionFactory, UserFactory

    election = ElectionFactory()
    client.force_login(UserFactory())
    r = client.get(f"/elections/{election.slug}/manage/")
    assert r.status_code == 403
    assert "Not allowed" not in r.content.decode()  # the permission message, not the generic page


def test_technical_pages_only_when_asked(settings):
    settings.DEBUG = True
    settings.PB_TECHNICAL_ERRORS = True
    r = _visitor().get("/no/such/page/")
    assert r.status_code == 404 and "URLconf" in r.content.decode()


def test_expired_form_is_said_plainly(debug):
    r = Client(enforce_csrf_checks=True).post("/accounts/login/", {"username": "x", "password": "y"})
    html = _ours(r, 403, "This form has expired")
    assert "Reason given" not in html and "CSRF_COOKIE" not in html


def test_election_page_finds_the_election_or_says_why_not(rf):
    """The look-up the officials' pages share (pb.core.errorpages.election_page): 404 for an unknown
    election, the refusal page with its status for a user who may not act, nothing for one who may."""
    from django.contrib.auth.models import AnonymousUser
    from django.http import Http404

    from pb.core.errorpages import election_page
    from tests.factories import ElectionFactory, UserFactory, official

    election = ElectionFactory()
    request = rf.get("/")
    request.user = official()
    found, denied = election_page(request, election.slug, "election.manage")
    assert found == election and denied is None
    for user in (UserFactory(), AnonymousUser()):
        request.user = user
        found, denied = election_page(request, election.slug, "election.manage")
        assert found == election and denied is not None and denied.status_code == 403
    with pytest.raises(Http404):
        election_page(request, "no-such-election", "election.manage")
