"""Official content in several languages: a name or title as the official wrote it, plus translations kept
per language code ({"vi": "...", "zh-hans": "..."}) next to it. Display only: the frozen definition, the
manifest and every count use the original."""

from __future__ import annotations

from django.conf import settings
from django.utils import translation


def content_languages(*, besides: str | None = None) -> list[tuple[str, str]]:
    """The languages an official can translate into: the site's languages (settings.LANGUAGES), without
    `besides` (the language the original is written in) when given."""
    skip = (besides or "").lower()
    return [(code.lower(), str(label)) for code, label in settings.LANGUAGES if code.lower() != skip]


def localized(original: str, translations: dict | None, language: str | None = None) -> str:
    """The text in `language` (the active language by default), else the original.

    A translation that is missing, empty or not text falls back to the original, so a half-translated
    election still reads."""
    if not translations or not isinstance(translations, dict):
        return original
    code = (language or translation.get_language() or "").lower()
    text = translations.get(code)
    if isinstance(text, str) and text.strip():
        return text
    return original


def clean_translations(values: dict, *, max_length: int) -> dict[str, str]:
    """Keep one stripped text per known language (empty: no translation), each at most `max_length`
    characters. Raises ValueError naming the first bad entry."""
    known = {code for code, _label in content_languages()}
    out: dict[str, str] = {}
    for code, text in values.items():
        code = str(code).lower()
        if code not in known:
            raise ValueError(f"unknown language {code!r}")
        if text is None:
            continue
        if not isinstance(text, str):
            raise ValueError(f"{code}: not text")
        text = text.strip()
        if "\x00" in text:
            raise ValueError(f"{code}: contains a NUL character")
        if len(text) > max_length:
            raise ValueError(f"{code}: longer than {max_length} characters")
        if text:
            out[code] = text
    return dict(sorted(out.items()))
