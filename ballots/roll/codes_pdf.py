"""Printable voting-code letters: one A4 page per voter (WeasyPrint).

The plaintext codes exist only in the PDF: handed over in the request (a reissue) or sealed to the official
who asked for a batch (ballots.roll.letters); nothing here is stored. Each letter prints its letter reference
(`CodeSheet.letter`, matched to the addressee through the batch's mail-merge file) and the site's configured
public address (`PB_PUBLIC_URL`), never the host an official used.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from pb.core.exceptions import DomainError


class PublicUrlMissing(DomainError):
    status_code = 409


def public_identify_url(election) -> str:
    """The identification page's address as printed on letters: PB_PUBLIC_URL + the page's path.

    Raises PublicUrlMissing (before any code is made) when PB_PUBLIC_URL is unset or not an http(s) address:
    a letter printed with whatever host the official typed (localhost, an internal name, a look-alike
    domain in a forged link) would send voters to the wrong place."""
    base = str(getattr(settings, "PB_PUBLIC_URL", "") or "").strip().rstrip("/")
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise PublicUrlMissing(
            _(
                "This site has no public address configured, so letters cannot say where to vote. "
                "Set PB_PUBLIC_URL (e.g. https://pb.example.org) and try again; no code was made."
            )
        )
    return base + reverse("ballots:identify", args=[election.slug])


# Letters laid out per WeasyPrint document: small enough that progress moves every few seconds, large enough
# that the per-document overhead stays small (bench/codes_pdf.py compares with one document for all).
CHUNK = 25


def code_sheets_pdf(
    election, sheets, *, identify_url: str, progress: Callable[[int], None] | None = None
) -> bytes:
    """`sheets`: ballots.roll.codes.CodeSheet items, one page each, in the given order. `progress(n)` is
    called with the number of letters laid out so far (the code-letter job reports it on its page)."""
    from weasyprint import HTML

    documents = []
    for start in range(0, max(1, len(sheets)), CHUNK):
        pages = [
            {
                "voter": s.voter,
                "district": s.voter.district,
                "code": s.code,
                "reference": s.reference,
                "letter": s.letter,
            }
            for s in sheets[start : start + CHUNK]
        ]
        html = render_to_string(
            "ballots/codes_sheet.html",
            {
                "election": election,
                "pages": pages,
                "identify_url": identify_url,
                "lang": translation.get_language(),
            },
        )
        documents.append(HTML(string=html).render())
        if progress is not None:
            progress(min(len(sheets), start + CHUNK))
    # One PDF of every chunk's pages (WeasyPrint's documented way to join documents).
    return documents[0].copy([page for doc in documents for page in doc.pages]).write_pdf()
