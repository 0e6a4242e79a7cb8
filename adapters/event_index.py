"""Which aggregates the event store holds, for many ids in one query.

A read-only look at the library's events table (`originator_id` is the first column of its
primary key on both backends). Ingestion uses it to ask once per chunk which message records
exist, instead of once per email; the answer is only a hint (see `Ingestion.ingest`).
"""

from __future__ import annotations

from collections.abc import Collection
from uuid import UUID

from eventsourcing.persistence import Recorder
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from psycopg.sql import SQL, Identifier

SQLITE_VARIABLES = 500


def recorded(recorder: Recorder, ids: Collection[UUID]) -> set[UUID] | None:
    """Those of `ids` with at least one stored event; None when this store cannot say."""
    if not ids:
        return set()
    if isinstance(recorder, PostgresApplicationRecorder):
        return _postgres(recorder, list(ids))
    if isinstance(recorder, SQLiteApplicationRecorder):
        return _sqlite(recorder, [i.hex for i in ids])
    return None


def _postgres(recorder: PostgresApplicationRecorder, ids: list[UUID]) -> set[UUID]:
    query = SQL("SELECT DISTINCT originator_id FROM {}.{} WHERE originator_id = ANY(%s)").format(
        Identifier(recorder.datastore.schema), Identifier(recorder.events_table_name)
    )
    with recorder.datastore.transaction(commit=False) as cursor:
        cursor.execute(query, (ids,))
        return {UUID(str(row["originator_id"])) for row in cursor.fetchall()}


def _sqlite(recorder: SQLiteApplicationRecorder, hexes: list[str]) -> set[UUID]:
    found: set[UUID] = set()
    with recorder.datastore.transaction(commit=False) as cursor:
        for start in range(0, len(hexes), SQLITE_VARIABLES):
            part = hexes[start : start + SQLITE_VARIABLES]
            cursor.execute(
                f"SELECT DISTINCT originator_id FROM {recorder.events_table_name} "
                f"WHERE originator_id IN ({', '.join('?' * len(part))})",
                part,
            )
            found.update(UUID(row[0]) for row in cursor.fetchall())
    return found
