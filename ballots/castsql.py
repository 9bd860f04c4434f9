# ruff: noqa: S608 - identifiers come from model metadata (quoted); every value is a %s parameter.
"""The cast's SQL, written once per process from the models' metadata (tables, columns, field adapters).

Election day's hot path spends most of its time in Python, and the ORM compiles every query anew on each
request. These statements are built once from `Model._meta` (so a renamed table or column follows the model)
and their values go through each field's own `get_db_prep_save`, exactly what the ORM would send: a UUID is
a hex string on SQLite and a uuid on PostgreSQL, a JSON list is text on SQLite and jsonb on PostgreSQL.
Behaviour is tested on both databases by the whole casting suite.
"""

from __future__ import annotations

from functools import cache

from django.db import connection

from ballots.models import CodeStatus, Participation, PendingBallot, VoterRollEntry, VotingCode
from pb.core.models import Election


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _col(model, name: str) -> str:
    return _q(model._meta.get_field(name).column)


@cache
def _voter_lock_sql(vendor: str, for_update_of: bool) -> tuple[str, tuple[str, ...]]:
    from tally.models import DefinitionFreeze

    fields = tuple(f.attname for f in VoterRollEntry._meta.concrete_fields)
    cols = ", ".join(f"v.{_q(f.column)}" for f in VoterRollEntry._meta.concrete_fields)
    sql = (
        f"SELECT {cols}, e.{_col(Election, 'phase')}, f.{_col(DefinitionFreeze, 'id')}, "
        f"f.{_col(DefinitionFreeze, 'sha256')} "
        f"FROM {_q(VoterRollEntry._meta.db_table)} v "
        f"JOIN {_q(Election._meta.db_table)} e "
        f"ON e.{_col(Election, 'id')} = v.{_col(VoterRollEntry, 'election')} "
        f"LEFT JOIN {_q(DefinitionFreeze._meta.db_table)} f "
        f"ON f.{_col(DefinitionFreeze, 'election')} = e.{_col(Election, 'id')} "
        f"WHERE v.{_col(VoterRollEntry, 'id')} = %s AND v.{_col(VoterRollEntry, 'election')} = %s"
    )
    # Row lock on the voter's roll entry only (not the election and freeze rows every voter shares).
    # SQLite has no row locks: its writers are serialised by the database lock.
    if for_update_of:
        sql += " FOR UPDATE OF v"
    return sql, fields


def voter_lock(election_id: int, voter_id: int):
    """Lock the voter's roll entry; returns (voter instance, election phase, (freeze id, sha) | None) or
    None if the voter is not on this election's roll."""
    sql, fields = _voter_lock_sql(connection.vendor, connection.features.has_select_for_update_of)
    with connection.cursor() as cur:
        cur.execute(sql, [voter_id, election_id])
        row = cur.fetchone()
    if row is None:
        return None
    n = len(fields)
    voter = VoterRollEntry.from_db(connection.alias, fields, row[:n])
    phase, freeze_id, sha = row[n:]
    return voter, phase, ((freeze_id, sha) if freeze_id is not None else None)


@cache
def _voted_sql(vendor: str) -> str:
    return (
        f"SELECT {_col(Participation, 'pot')} FROM {_q(Participation._meta.db_table)} "
        f"WHERE {_col(Participation, 'voter')} = %s"
    )


def voted_pot_ids(voter_id: int) -> set[int]:
    """Pots this voter has a participation in (any channel). Run after `voter_lock`: a statement started
    after the lock sees every participation committed by a request that held the lock before."""
    with connection.cursor() as cur:
        cur.execute(_voted_sql(connection.vendor), [voter_id])
        return {r[0] for r in cur.fetchall()}


@cache
def _insert_sql(vendor: str, returning: bool, model, names: tuple[str, ...]) -> tuple[str, tuple]:
    fields = tuple(model._meta.get_field(n) for n in names)
    sql = (
        f"INSERT INTO {_q(model._meta.db_table)} ({', '.join(_q(f.column) for f in fields)}) "
        f"VALUES ({', '.join(['%s'] * len(fields))})"
    )
    if returning:
        sql += f" RETURNING {_q(model._meta.pk.column)}"
    return sql, fields


def insert(model, values: dict, *, returning: bool = False):
    """INSERT one row; each value prepared by its field as the ORM would. Returns the new pk if asked
    (RETURNING where the database has it, else the cursor's lastrowid)."""
    can_return = connection.features.can_return_columns_from_insert
    sql, fields = _insert_sql(connection.vendor, returning and can_return, model, tuple(values))
    params = [f.get_db_prep_save(values[f.name], connection) for f in fields]
    with connection.cursor() as cur:
        cur.execute(sql, params)
        if returning:
            return cur.fetchone()[0] if can_return else cur.lastrowid
    return None


@cache
def _codes_used_sql(vendor: str) -> str:
    status = _col(VotingCode, "status")
    return (
        f"UPDATE {_q(VotingCode._meta.db_table)} SET {status} = %s "
        f"WHERE {_col(VotingCode, 'voter')} = %s AND {status} = %s"
    )


def codes_mark_used(voter_id: int) -> int:
    with connection.cursor() as cur:
        params = [CodeStatus.USED.value, voter_id, CodeStatus.ACTIVE.value]
        cur.execute(_codes_used_sql(connection.vendor), params)
        return cur.rowcount


@cache
def _pending_sql(vendor: str) -> str:
    return (
        f"SELECT COUNT(*) FROM (SELECT 1 FROM {_q(PendingBallot._meta.db_table)} "
        f"WHERE {_col(PendingBallot, 'election')} = %s AND {_col(PendingBallot, 'pot')} = %s LIMIT %s) s"
    )


def pending_at_least(election_id: int, pot_id: int, n: int) -> bool:
    """Whether the pot has at least n ballots waiting to be sealed (index "pending_ballot_pot")."""
    with connection.cursor() as cur:
        cur.execute(_pending_sql(connection.vendor), [election_id, pot_id, n])
        return cur.fetchone()[0] >= n


@cache
def _write_sql(vendor: str, p_names: tuple[str, ...], b_names: tuple[str, ...]) -> tuple[str, tuple, tuple]:
    p_sql, p_fields = _insert_sql(vendor, True, Participation, p_names)
    b_sql, b_fields = _insert_sql(vendor, False, PendingBallot, b_names)
    code_status = _col(VotingCode, "status")
    sql = (
        f"WITH p AS ({p_sql}), b AS ({b_sql} RETURNING 1), "
        f"c AS (UPDATE {_q(VotingCode._meta.db_table)} SET {code_status} = %s "
        f"WHERE {_col(VotingCode, 'voter')} = %s AND {code_status} = %s AND %s RETURNING 1) "
        f"SELECT (SELECT {_q(Participation._meta.pk.column)} FROM p), "
        f"({_pending_sql(vendor)})"
    )
    return sql, p_fields, b_fields


def write_cast(participation: dict, pending: dict, *, mark_codes: bool, seal_at: int) -> tuple[int, int]:
    """PostgreSQL: the participation, the pending (encrypted) ballot and (after the voter's last pot) their
    codes marked used, in ONE statement (data-modifying CTEs run to completion together; a second
    participation for the same voter and pot fails the whole statement on the unique constraint). The two
    rows share a transaction id, which is why the ballot is only ciphertext here and why sealing deletes
    the row and vacuums its table. Returns (participation id, the pot's OTHER pending ballots, counted up
    to `seal_at`)."""
    sql, p_fields, b_fields = _write_sql(connection.vendor, tuple(participation), tuple(pending))
    params = [f.get_db_prep_save(participation[f.name], connection) for f in p_fields]
    params += [f.get_db_prep_save(pending[f.name], connection) for f in b_fields]
    voter_id = participation["voter"]
    params += [CodeStatus.USED.value, voter_id, CodeStatus.ACTIVE.value, bool(mark_codes)]
    params += [pending["election"], pending["pot"], seal_at]
    with connection.cursor() as cur:
        cur.execute(sql, params)
        pid, others = cur.fetchone()
    return pid, others


def single_statement_writes() -> bool:
    """Whether the cast's writes can go in one statement (PostgreSQL's data-modifying CTEs)."""
    return connection.vendor == "postgresql"
