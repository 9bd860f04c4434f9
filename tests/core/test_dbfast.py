"""pb.core.dbfast.prepared_cursor: on PostgreSQL the hot statements are really prepared (planned once per
connection), database errors still arrive as django.db errors, and elsewhere it is the ordinary cursor."""

import pytest
from django.db import IntegrityError, connection, transaction

from pb.core.dbfast import prepared_cursor

pytestmark = pytest.mark.django_db


def test_statements_run_and_errors_are_djangos():
    for i in range(3):
        with prepared_cursor() as cur:
            cur.execute("SELECT %s + 1", [i])
            assert cur.fetchone()[0] == i + 1
    with pytest.raises(IntegrityError), transaction.atomic(), prepared_cursor() as cur:
        cur.execute(
            'INSERT INTO "django_session" ("session_key", "session_data", "expire_date") '
            "VALUES (NULL, %s, %s)",
            ["x", "2030-01-01"],
        )


@pytest.mark.postgres
def test_on_postgresql_the_statement_is_prepared_once_per_connection():
    sql = "SELECT %s + 41"
    for _ in range(2):
        with prepared_cursor() as cur:
            cur.execute(sql, [1])
            assert cur.fetchone()[0] == 42
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement = 'SELECT $1 + 41'")
        assert cur.fetchone()[0] == 1
    # Django's own (ORM) cursors still bind on the client and prepare nothing.
    with connection.cursor() as cur:
        cur.execute("SELECT %s + 7", [1])
        cur.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s", ["%+ 7%"])
        assert cur.fetchone()[0] == 0
