"""A cursor for the few fixed statements on election day's hot path (the cast, the session read).

On PostgreSQL Django binds parameters on the client by default (it sends each query as text with the values
quoted in), so PostgreSQL parses and plans every statement anew. This cursor binds them on the server
instead, and psycopg prepares a statement it has run `prepare_threshold` (5) times on a connection: from
then on PostgreSQL runs the stored plan. It is still Django's cursor wrapper (database errors become
django.db errors such as IntegrityError; queries are logged where Django logs them). Elsewhere it is the
ordinary cursor.
"""

from __future__ import annotations

from django.db import connections


def prepared_cursor(alias: str = "default"):
    conn = connections[alias]
    if conn.vendor != "postgresql":
        return conn.cursor()
    import psycopg

    conn.close_if_health_check_failed()
    conn.ensure_connection()
    with conn.wrap_database_errors:
        return conn._prepare_cursor(psycopg.Cursor(conn.connection))
