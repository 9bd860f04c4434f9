"""Printable voting-code sheets: one A4 page per voter (WeasyPrint).

The plaintext codes exist only in the PDF returned once at generation; nothing here is stored.
"""

from __future__ import annotations

from django.template.loader import render_to_string
from django.utils import translation


def code_sheets_pdf(election, sheets, *, identify_url: str = "") -> bytes:
    """`sheets`: ballots.services_roll.CodeSheet items, one page each, in the given order."""
    from weasyprint import HTML

    pages = [
        {"voter": s.voter, "district": s.voter.district, "code": s.code, "reference": s.reference}
        for s in sheets
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
    return HTML(string=html).write_pdf()
