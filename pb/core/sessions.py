"""Django's database sessions, with the read every request makes written once as plain SQL.

A voter's requests all read their session (identification lives there); the ORM would compile the same
SELECT anew on each one. Everything else (decoding, saving, rotating keys, expiry) is Django's own
`django.contrib.sessions.backends.db.SessionStore`. Enable with SESSION_ENGINE = "pb.core.sessions".
"""

from __future__ import annotations

from functools import cache
from types import SimpleNamespace

from django.contrib.sessions.backends.db import SessionStore as DbSessionStore
from django.db import connections, router
from django.utils import timezone

from pb.core.dbfast import prepared_cursor


@cache
def _load_sql(vendor: str, model) -> str:
    ops = connections[router.db_for_read(model)].ops
    meta = model._meta
    data, key, expire = (
        ops.quote_name(meta.get_field(f).column) for f in ("session_data", "session_key", "expire_date")
    )
    return f"SELECT {data} FROM {ops.quote_name(meta.db_table)} WHERE {key} = %s AND {expire} > %s"  # noqa: S608


class SessionStore(DbSessionStore):
    def _get_session_from_db(self):
        model = self.model
        conn = connections[router.db_for_read(model)]
        now = model._meta.get_field("expire_date").get_db_prep_value(timezone.now(), conn)
        with prepared_cursor(conn.alias) as cur:
            cur.execute(_load_sql(conn.vendor, model), [self.session_key, now])
            row = cur.fetchone()
        if row is None:
            self._session_key = None
            return None
        return SimpleNamespace(session_data=row[0])
