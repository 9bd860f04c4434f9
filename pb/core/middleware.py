"""Refuse bad requests before any view (or the CSRF check, which reads the body) touches them.

- NUL bytes in the path or the query string, or in the fields of a plain (url-encoded) form: 400 with a
  clear message. PostgreSQL cannot store or compare a string holding NUL, so without this a stray %00 in a
  URL was a 500 on any page that looks something up.
- Bodies larger than the endpoint's limit: 413, decided from CONTENT_LENGTH before one byte of the body is
  read. Most endpoints take at most PB_REQUEST_MAX_BYTES; the few upload endpoints named in
  PB_UPLOAD_LIMITS (url name -> bytes) take more. docs/deploy.md ("Upload limits") lists them; the proxy's
  client_max_body_size matches the largest.
"""

from __future__ import annotations

from urllib.parse import unquote_plus

from django.conf import settings
from django.shortcuts import render
from django.urls import Resolver404, resolve
from django.utils.translation import gettext as _

# What to do instead, per endpoint, when the upload is too large for the web page.
_HINTS = {
    "tally:verify": lambda: _(
        "Verify a large election on your own computer instead: python -m tally verify RESULT.pdf "
        "--key council.pub --ballots DIRECTORY (no size limit)."
    ),
    "proposals:import": lambda: _("Split the file into smaller files and import them one after the other."),
    "ballots:roll": lambda: _(
        "Split the file, or import it on the server with: "
        "python manage.py roll_import ELECTION FILE --as USERNAME."
    ),
}


def upload_limit(view_name: str | None) -> int:
    """The largest request body (bytes) the endpoint `view_name` accepts."""
    limits = getattr(settings, "PB_UPLOAD_LIMITS", {})
    return int(limits.get(view_name, getattr(settings, "PB_REQUEST_MAX_BYTES", 6 * 1024 * 1024)))


def _megabytes(n: int) -> str:
    return f"{n / (1024 * 1024):.1f}".removesuffix(".0")


def _has_nul(text: str) -> bool:
    return "\x00" in text


class RequestGuardMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        refused = self._refuse(request)
        return refused if refused is not None else self.get_response(request)

    def _refuse(self, request):
        query = request.META.get("QUERY_STRING", "")
        if _has_nul(request.path) or _has_nul(unquote_plus(query)):
            return self._bad_request(request)
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            message = _("The request's length is not a number.")
            return render(request, "core/error.html", {"message": message}, status=400)
        # Only a body larger than the smallest limit needs its endpoint looked up.
        if length > min(upload_limit(None), *getattr(settings, "PB_UPLOAD_LIMITS", {}).values()):
            try:
                view_name = resolve(request.path_info).view_name
            except Resolver404:
                view_name = None
            limit = upload_limit(view_name)
            if length > limit:
                return self._too_large(request, view_name, length, limit)
        # A url-encoded body is small by construction (DATA_UPLOAD_MAX_MEMORY_SIZE); multipart bodies are left
        # to the forms, whose text fields refuse NUL themselves, so an upload is not parsed before its view
        # has decided whether to take it (tally's verify page).
        form = request.META.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded")
        if (
            request.method == "POST"
            and form
            and any(_has_nul(k) or any(_has_nul(v) for v in vs) for k, vs in request.POST.lists())
        ):
            return self._bad_request(request)
        return None

    @staticmethod
    def _bad_request(request):
        message = _(
            "The address or the form contains a NUL character (%00), which is never valid here. "
            "Check the link or what was pasted into the form."
        )
        return render(request, "core/error.html", {"message": message}, status=400)

    @staticmethod
    def _too_large(request, view_name, length: int, limit: int):
        message = _("This upload is too large: %(size)s MB, and at most %(limit)s MB are accepted here.") % {
            "size": _megabytes(length),
            "limit": _megabytes(limit),
        }
        hint = _HINTS.get(view_name)
        if hint is not None:
            message = f"{message} {hint()}"
        return render(request, "core/error.html", {"message": message}, status=413)
