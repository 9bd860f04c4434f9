"""Printable voting-code sheets: one A4 page per voter (WeasyPrint).

The plaintext codes exist only in the PDF returned once at generation; nothing here is stored.
"""

from __future__ import annotations

from django.template.loader import render_to_string
from django.utils import translation


def code_sheets_pdf(election, pairs, *, identify_url: str = "") -> bytes:
    """`pairs`: (VoterRollEntry, plaintext code). Pages are in the given order (by district, then roll)."""
    from weasyprint import HTML

    pages = [{"voter": voter, "district": voter.district, "code": code} for voter, code in pairs]
    html = render_to_string(
        "ballots/codes_sheet.html",
        {
            "election": election,
            "pages": pages,
            "identify_url": identify_url,
            "lang": translation.get_language(),
        },
    )
    return HTML(string=html).write_pdf()
