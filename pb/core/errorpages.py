"""Our own 404, 403 and 500 pages, in production and in the demo (which runs with DEBUG on).

Django shows its technical pages when DEBUG is on: the 404 page lists the whole URLconf, the 500 page a
traceback with settings. A visitor of the demo must see what a visitor of the real site sees, so unless
`PB_TECHNICAL_ERRORS` is on this middleware renders templates/core/error.html for Http404, PermissionDenied
and unhandled exceptions raised by a view, and for a URL that matches no route. Without DEBUG, Django
calls the same views through handler404/403/500 (pb/urls.py).
"""

from __future__ import annotations

import logging
import sys

from django.conf import settings
from django.core.exceptions import BadRequest, PermissionDenied, SuspiciousOperation
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.template import loader
from django.utils.translation import gettext as _

from pb.core.exceptions import DomainError
from pb.core.models import Election
from pb.core.permissions import require

logger = logging.getLogger("django.request")


def _render(request, status: int, title: str, message: str) -> HttpResponse:
    try:
        body = loader.render_to_string(
            "core/error.html", {"title": title, "message": message}, request=request
        )
    except Exception:  # the page itself cannot be drawn (e.g. the database is down): plain text
        logger.exception("error page %s could not be rendered", status)
        body = f"<!doctype html><title>{title}</title><h1>{title}</h1><p>{message}</p>"
    return HttpResponse(body, status=status, content_type="text/html; charset=utf-8")


def page_not_found(request, exception=None) -> HttpResponse:
    return _render(
        request,
        404,
        _("Page not found"),
        _("There is no page at this address. It may have moved, or the link may be mistyped."),
    )


def permission_denied(request, exception=None) -> HttpResponse:
    return _render(request, 403, _("Not allowed"), _("You are not allowed to open this page."))


def server_error(request) -> HttpResponse:
    return _render(
        request,
        500,
        _("Something went wrong"),
        _("The server could not complete your request. It has been logged; please try again later."),
    )


def bad_request(request, exception=None) -> HttpResponse:
    return _render(request, 400, _("Bad request"), _("The server could not understand this request."))


def csrf_failure(request, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: what went wrong in words a visitor can act on (Django's page, with DEBUG on,
    explains the settings instead)."""
    return _render(
        request,
        403,
        _("This form has expired"),
        _(
            "The form was open too long, or cookies are blocked in your browser. Go back, reload the page "
            "and send the form again."
        ),
    )


class FriendlyErrorsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def _active(self) -> bool:
        return settings.DEBUG and not getattr(settings, "PB_TECHNICAL_ERRORS", False)

    def __call__(self, request):
        response = self.get_response(request)
        if (
            response.status_code == 404
            and self._active()
            and getattr(request, "resolver_match", None) is None
        ):
            # No route matched: Django drew its technical page with the URLconf listing.
            return page_not_found(request)
        return response

    def process_exception(self, request, exception):
        if not self._active():
            return None  # production: Django's handlers (pb/urls.py) do this
        if isinstance(exception, Http404):
            return page_not_found(request, exception)
        if isinstance(exception, PermissionDenied):
            return permission_denied(request, exception)
        if isinstance(exception, BadRequest | SuspiciousOperation):
            return bad_request(request, exception)
        logger.error(
            "Internal Server Error: %s",
            request.path,
            exc_info=sys.exc_info(),
            extra={"status_code": 500, "request": request},
        )
        return server_error(request)


def domain_error_page(request, exc) -> HttpResponse:
    """A refused action (a pb DomainError: permission, phase, invalid input) as a page with its own status."""
    return render(request, "core/error.html", {"message": exc.message}, status=exc.status_code)


def election_page(request, slug: str, action: str, *, queryset=None) -> tuple[Election, HttpResponse | None]:
    """The election a page is about (404 if there is none) and, if the user may not do `action` in it now,
    the page that says why (domain_error_page), else None."""
    election = get_object_or_404(Election if queryset is None else queryset, slug=slug)
    try:
        require(request.user, action, election)
    except DomainError as exc:
        return election, domain_error_page(request, exc)
    return election, None
