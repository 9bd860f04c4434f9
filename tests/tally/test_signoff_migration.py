"""The migration that brings in one sign-off per official: sign-offs given twice before it (the old code
allowed that) are kept, the latest standing and the earlier ones marked withdrawn, so the constraint can be
created on a live database."""

import datetime as dt

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("tally", "0002_run_metrics")]
AFTER = [("tally", "0003_signoff_withdraw_unique")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def test_earlier_duplicate_signoffs_are_marked_withdrawn():
    apps = _migrate(BEFORE)
    try:
        User = apps.get_model("auth", "User")
        Election = apps.get_model("core", "Election")
        TallyRun = apps.get_model("tally", "TallyRun")
        SignOff = apps.get_model("tally", "SignOff")
        a, b = User.objects.create(username="a"), User.objects.create(username="b")
        election = Election.objects.create(name="E", slug="e")
        t0 = dt.datetime(2026, 6, 20, 10, tzinfo=dt.UTC)
        run = TallyRun.objects.create(
            election=election, official=True, rule="greedy", tie_break="cost", started_by=a, created_at=t0
        )

        def signoff(user, minutes):
            return SignOff.objects.create(
                election=election,
                run=run,
                official=user,
                method="server",
                matched=True,
                created_at=t0 + dt.timedelta(minutes=minutes),
            ).pk

        first, second, third, other = signoff(a, 1), signoff(a, 2), signoff(a, 3), signoff(b, 4)

        apps = _migrate(AFTER)
        SignOff = apps.get_model("tally", "SignOff")
        rows = {s.pk: s for s in SignOff.objects.all()}
        assert len(rows) == 4  # nothing deleted
        assert rows[third].withdrawn_at is None and rows[other].withdrawn_at is None
        for pk in (first, second):
            assert rows[pk].withdrawn_at == rows[pk].created_at
            assert "duplicate sign-off" in rows[pk].withdrawn_reason
    finally:
        _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
