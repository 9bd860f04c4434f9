"""Pages rendered once per process and filled in per request ("hole punching"), for election day's hot path.

The receipt page after a cast is the same for every voter of a pot except for two values: the receipt code
and the CSRF token. Rendering the whole template (base layout, language list, translations) each time costs
more than the cast itself, so `render_with_holes` renders it once per (template, language, URL, key) with
unique markers in place of those values, keeps the result split at the markers, and joins it with each
request's values. The output is byte-for-byte what `render` would give (tested).

Used only where that holds: anonymous visitors (a signed-in user's page shows their name and roles) with no
pending messages; any other request is rendered normally. A hole value must be text that HTML escaping
leaves unchanged (a receipt code, a token); otherwise the page is rendered normally too.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections import OrderedDict

from django.contrib.messages import get_messages
from django.http import HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils.html import conditional_escape
from django.utils.translation import get_language

MAX_SHELLS = 256
_NONCE = secrets.token_hex(8)
_MARK = re.compile(rf"pbhole{_NONCE}-([A-Za-z0-9_]+)-")
_SHELLS: OrderedDict[tuple, tuple[tuple[str, ...], tuple[str, ...]]] = OrderedDict()
_LOCK = threading.Lock()


def _mark(name: str) -> str:
    return f"pbhole{_NONCE}-{name}-"


def _cacheable(request, holes: dict[str, str]) -> bool:
    if getattr(request, "user", None) is None or request.user.is_authenticated:
        return False
    if len(get_messages(request)):
        return False
    return all(conditional_escape(v) == v for v in holes.values())


def _shell(request, template_name: str, context: dict, names: tuple[str, ...], key: tuple):
    full_key = (template_name, get_language(), request.get_full_path(), names, key)
    with _LOCK:
        shell = _SHELLS.get(full_key)
        if shell is not None:
            _SHELLS.move_to_end(full_key)
            return shell
    marked = {**context, **{n: _mark(n) for n in names}}
    html = render_to_string(template_name, marked, request)
    parts = _MARK.split(html)
    shell = (tuple(parts[0::2]), tuple(parts[1::2]))  # literals, and the hole between each pair of them
    with _LOCK:
        _SHELLS[full_key] = shell
        while len(_SHELLS) > MAX_SHELLS:
            _SHELLS.popitem(last=False)
    return shell


def render_with_holes(
    request, template_name: str, context: dict, *, holes: dict[str, str], key: tuple
) -> HttpResponse:
    """Like `render(request, template_name, {**context, **holes})`.

    `context` must be the same for every request with the same `key` (and language and URL); `holes` are the
    per-request values. The CSRF token is always a hole."""
    if not _cacheable(request, holes):
        return render(request, template_name, {**context, **holes})
    values = {**holes, "csrf_token": get_token(request)}
    literals, names = _shell(request, template_name, context, tuple(sorted(values)), key)
    out = [literals[0]]
    for name, literal in zip(names, literals[1:], strict=True):
        out.append(values[name])
        out.append(literal)
    return HttpResponse("".join(out))


def clear() -> None:
    with _LOCK:
        _SHELLS.clear()
