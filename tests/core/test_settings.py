"""Production settings come from the environment only; each case runs Django in a fresh process."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse

ROOT = Path(__file__).resolve().parents[2]


def manage(*args, **env):
    base = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_secret_key_is_required_when_debug_is_off():
    result = manage("check", DJANGO_DEBUG="0")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr


def test_check_deploy_is_clean_with_production_environment():
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(64),
        DJANGO_ALLOWED_HOSTS="pb.example.org",
        EMAIL_HOST="smtp.example.org",  # without it, account e-mail would only reach the console (mail.E001)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.django_db
def test_csp_and_security_headers_on_every_page(client):
    resp = client.get(reverse("core:home"))
    csp = resp["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert resp["X-Frame-Options"] == "DENY"
    assert resp["X-Content-Type-Options"] == "nosniff"


def test_whitenoise_serves_static_files():
    from django.conf import settings

    assert "whitenoise.middleware.WhiteNoiseMiddleware" in settings.MIDDLEWARE
    assert settings.MIDDLEWARE.index("whitenoise.middleware.WhiteNoiseMiddleware") == 1


def test_templates_have_no_inline_script_or_style():
    ours = [ROOT / "templates" / "_base.html"]
    for folder in ("core", "proposals", "registration"):
        ours += sorted((ROOT / "templates" / folder).glob("*.html"))
    for path in ours:
        text = path.read_text()
        assert "<script>" not in text and 'style="' not in text and "<style" not in text, path


def test_public_url_defaults_to_the_demo_address_only_in_debug():
    """Code letters print PB_PUBLIC_URL: the demo prints the address it serves; production has no default
    (letters are then refused until it is set), and a configured value wins."""

    def public_url(**env) -> str:
        code = "from django.conf import settings; print(repr(settings.PB_PUBLIC_URL))"
        return manage("shell", "--no-imports", "-c", code, **env).stdout.strip().splitlines()[-1]

    assert public_url(DJANGO_DEBUG="1") == "'http://127.0.0.1:8000'"
    prod = {"DJANGO_SECRET_KEY": "x" * 60, "DJANGO_DEBUG": "0"}
    assert public_url(**prod) == "''"
    assert public_url(**prod, PB_PUBLIC_URL="https://pb.example.org/") == "'https://pb.example.org'"
