import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
FIXTURES = ROOT / "fixtures"


def pytest_collection_modifyitems(config, items):
    """PostgreSQL-only tests (real row locks, concurrent casts) skip on SQLite with the reason."""
    on_postgres = os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(pytest.mark.skip(reason="needs PostgreSQL: run with DATABASE_URL=postgres://…"))


@pytest.fixture
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip("../shared is absent (fresh clone): large reference files are only in CI")
    return SHARED


@pytest.fixture(autouse=True)
def _immediate_tasks(settings):
    """Background jobs run inside the request that asks for them, so a test sees a count or an import done
    when the call returns. tests/core/test_task_worker.py puts the database backend back and runs the real
    worker (manage.py task_worker)."""
    immediate = "django.tasks.backends.immediate.ImmediateBackend"
    settings.TASKS = {"default": {**settings.TASKS["default"], "BACKEND": immediate}}


@pytest.fixture(autouse=True)
def _test_audit_key(settings):
    """Phase changes sign the audit head (pb.core.audit.audit_checkpoint) and pytest runs with DEBUG off, so
    no key is made on first use: every test signs with the TEST ONLY audit key unless it sets its own."""
    settings.PB_AUDIT_KEY_FILE = str(FIXTURES / "keys" / "test-audit-ed25519.key")


@pytest.fixture(autouse=True)
def _default_language():
    """Each test starts in the default language: a request through the test client activates the visitor's
    language for the thread (LocaleMiddleware) and leaves it active after the response, so code a later
    test calls outside a request would speak the previous test's language."""
    from django.utils import translation

    translation.deactivate()
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Each test starts with an empty cache (template fragments): test databases roll back and may reuse
    ids, which a long-running server never does."""
    yield
    try:
        from django.core.cache import cache

        cache.clear()
    except Exception:  # engine-only runs may not have Django set up
        return
