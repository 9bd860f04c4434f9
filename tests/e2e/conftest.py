"""Playwright (sync) against pytest-django's live_server, driving Debian's /usr/bin/chromium headless.

Fixtures: `browser` (one per test module), `page` (JavaScript on), `page_nojs` (JavaScript off), `base_url`,
and `login(page, username)` for accounts made with tests.factories (password "pw-for-tests-only").
Steps that several tests take (sign-up, proposing with the map, comments, reviews, phases) are in
tests/e2e/journey_helpers.py.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in this thread; Django's ORM refuses that unless told otherwise.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
PASSWORD = "pw-for-tests-only"  # tests.factories.UserFactory's password


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session", autouse=True)
def _compiled_messages():
    """The Makefile compiles catalogues before tests; do it here too when run directly with pytest.
    Without GNU gettext the committed compiled catalogues are used as they are."""
    if shutil.which("msgfmt") is None:
        return
    for po in (ROOT / "locale").glob("*/LC_MESSAGES/django.po"):
        mo = po.with_suffix(".mo")
        if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
            subprocess.run(
                [sys.executable, "manage.py", "compilemessages", "--ignore=.venv"],
                cwd=ROOT,
                check=True,
                capture_output=True,
            )
            break


@pytest.fixture(scope="module")
def browser():
    # Module scope, not session: only one sync Playwright may run at a time in this thread, and a test
    # module may start its own.
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.skip("Debian chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield b
        b.close()


@pytest.fixture
def base_url(live_server, transactional_db, settings):
    # Fast hashing for users created by the tests; the live server thread shares these settings.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return live_server.url


@pytest.fixture
def page(browser, base_url):
    from tests.e2e.journey_helpers import new_page

    context, p = new_page(browser)
    yield p
    context.close()


@pytest.fixture
def page_nojs(browser, base_url):
    from tests.e2e.journey_helpers import new_page

    context, p = new_page(browser, java_script_enabled=False)
    yield p
    context.close()


@pytest.fixture
def login(base_url):
    from playwright.sync_api import expect

    def do(page, username: str, password: str = PASSWORD):
        page.goto(f"{base_url}/accounts/login/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(password)
        page.locator("main").get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("button", name=f"Sign out ({username})")).to_be_visible()

    return do


@pytest.fixture
def axe():
    """`axe(page)`: the serious and critical axe-core violations on the page (tests/e2e/a11y.py)."""
    from tests.e2e.a11y import axe_violations

    return axe_violations


@pytest.fixture
def accessible():
    """`accessible(page)`: no serious or critical violation at 390 px and 1280 px (tests/e2e/a11y.py)."""
    from tests.e2e.a11y import assert_accessible

    def check(page) -> None:
        size = page.viewport_size
        assert_accessible(page)
        if size:
            page.set_viewport_size(size)

    return check


@pytest.fixture
def publish_world(base_url, settings, tmp_path):
    """`publish_world(make)`: an election made by `make()` (a tests.tally.conftest.World) taken through
    certification and publication with the TEST ONLY keys, off the Playwright thread (its event loop runs on
    this one; signing the PDF runs its own). Returns the world."""
    import threading

    from django.db import connection

    from tests.tally.conftest import KEYS

    settings.PB_VAR_DIR = tmp_path / "var"
    settings.PB_SIGNING_KEY_FILE = str(KEYS / "test-council-ed25519.key")
    settings.PB_SIGNING_CERT_FILE = str(KEYS / "test-pades-cert.pem")
    settings.PB_SIGNING_CERT_KEY_FILE = str(KEYS / "test-pades-key.pem")
    settings.PB_SIGNOFF_QUORUM = 2

    def publish(make):
        built: dict = {}

        def build():
            try:
                w = make()
                w.through_certify()
                w.publish()
                built["world"] = w
            finally:
                connection.close()

        worker = threading.Thread(target=build)
        worker.start()
        worker.join()
        return built["world"]

    return publish
