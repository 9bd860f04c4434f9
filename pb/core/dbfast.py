"""A cursor for the few fixed statements on election day's hot path (the cast, the session read).

On PostgreSQL Django binds parameters on the client by default (it sends each query as text with the values
quoted in), so PostgreSQL parses and plans every statement anew. This cursor binds them on the server
instead and prepares each statement once per connection: from then on PostgreSQL runs the stored plan (Django
turns psycopg's automatic preparation off by default, so it is asked for explicitly here). Behind a
transaction-pooling PgBouncer older than 1.21 (no prepared statements), set PB_DB_PREPARE = False
(environment DJANGO_DB_PREPARE=0). It is still Django's cursor wrapper (database errors become
django.db errors such as IntegrityError; queries are logged where Django logs them). Elsewhere it is the
ordinary cursor.
"""

from __future__ import annotations

from django.conf import settings
from django.db import connections

_PREPARED_CURSOR = None


def _cursor_class():
    global _PREPARED_CURSOR
    if _PREPARED_CURSOR is None:
        import psycopg

        class PreparedCursor(psycopg.Cursor):
            """Server-side binding, every statement prepared (Django turns psycopg's automatic preparation
            off for the whole connection, for the sake of transaction-pooling proxies)."""

            def execute(self, query, params=None, *, prepare=None, binary=None):
                return super().execute(
                    query, params, prepare=True if prepare is None else prepare, binary=binary
                )

        _PREPARED_CURSOR = PreparedCursor
    return _PREPARED_CURSOR


def prepared_cursor(alias: str = "default"):
    conn = connections[alias]
    if conn.vendor != "postgresql" or not getattr(settings, "PB_DB_PREPARE", True):
        return conn.cursor()
    conn.close_if_health_check_failed()
    conn.ensure_connection()
    raw = conn.connection
    if raw.prepare_threshold is None:
        # None disables even an explicit prepare=True. A threshold nothing reaches keeps automatic preparation
        # off (Django's ORM cursors bind on the client and never prepare anyway) and lets ours prepare.
        raw.prepare_threshold = 2**31 - 1
    with conn.wrap_database_errors:
        return conn._prepare_cursor(_cursor_class()(raw))
