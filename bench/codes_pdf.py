"""Time to make the printable voting-code letters (ballots.roll.codes_pdf.code_sheets_pdf), the part of code
generation that the request does while the official waits, for 100, 500, 1000 and 5000 letters (5000 is
the form's largest batch). No database: the letters are made from plain objects.

    .venv/bin/python bench/codes_pdf.py [N ...]

Prints letters, seconds, letters/s and the PDF's size. Never asserts on time.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pb.settings")


def main(sizes: list[int]) -> None:
    import django

    django.setup()
    from ballots.roll.codes_pdf import code_sheets_pdf

    election = SimpleNamespace(name="Riverton PB 2027", slug="riverton-2027")
    district = SimpleNamespace(name="North")
    for n in sizes:
        sheets = [
            SimpleNamespace(
                voter=SimpleNamespace(district=district),
                code=f"ABCD-EFGH-{i:04d}",
                reference="",
                letter=f"L-{i:06d}",
            )
            for i in range(n)
        ]
        t = time.perf_counter()
        pdf = code_sheets_pdf(election, sheets, identify_url="https://pb.example.org/vote/riverton-2027/")
        s = time.perf_counter() - t
        print(f"{n:>6} letters  {s:7.2f} s  {n / s:7.1f} letters/s  {len(pdf) / 1e6:6.2f} MB")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [100, 500, 1000, 5000])
