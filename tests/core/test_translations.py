"""The Vietnamese and Chinese catalogues cover every core and proposals string: none missing, none fuzzy.

(Fuzzy entries are not compiled, so a fuzzy translation shows English, or worse a wrong guess once someone
clears the flag without reading it: "Public ballot log" was once fuzzy-matched to "Public reason".)
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OURS = (
    "pb/core/",
    "proposals/",
    "templates/core/",
    "templates/proposals/",
    "templates/registration/",
    "_base",
)


def entries(po: Path):
    for block in po.read_text(encoding="utf-8").split("\n\n"):
        lines = block.strip().splitlines()
        if not lines or any(line.startswith("#~") for line in lines):
            continue
        refs = " ".join(line[2:] for line in lines if line.startswith("#:"))
        fuzzy = any(line.startswith("#,") and "fuzzy" in line for line in lines)
        text = "\n".join(line for line in lines if not line.startswith("#"))
        msgid = "".join(re.findall(r'"(.*)"', text.split("msgstr")[0].split("msgid_plural")[0]))
        msgstrs = re.split(r"^msgstr(?:\[\d+\])? ", text, flags=re.M)[1:]
        translated = ["".join(re.findall(r'"(.*)"', s)) for s in msgstrs]
        yield refs, msgid, fuzzy, translated


@pytest.mark.parametrize("lang", ["vi", "zh_Hans"])
def test_core_and_proposals_strings_are_translated(lang):
    po = ROOT / "locale" / lang / "LC_MESSAGES" / "django.po"
    problems = [
        msgid
        for refs, msgid, fuzzy, translated in entries(po)
        if msgid and any(path in refs for path in OURS) and (fuzzy or not all(translated))
    ]
    assert problems == []
