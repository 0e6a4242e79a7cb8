"""The read side's pure parts: names, SQL translation, search patterns and cursors."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from uuid import uuid4

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.sqlite import SQLiteDatastore
from eventsourcing.utils import get_topic

from domain.interaction import Interaction
from projections.base import Table, is_transient, iso, make_view
from projections.registry import PROJECTION_NAMES, PROJECTIONS
from projections.search import Search
from projections.search_query import (
    MAX_LIMIT,
    InvalidCursor,
    SearchQuery,
    decode_cursor,
    encode_cursor,
    like_pattern,
)
from projections.timeline import INTERACTION_EVENTS, Timeline, snake_case

TABLES = (Table("entries", "id TEXT NOT NULL, n BIGINT NOT NULL", "id"),)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Received", "received"),
        ("OfferRejected", "offer_rejected"),
        ("ReturnedToQueue", "returned_to_queue"),
        ("ContinuedIn", "continued_in"),
    ],
)
def test_timeline_types_are_event_names_in_snake_case(name: str, expected: str) -> None:
    assert snake_case(name) == expected


def test_timeline_and_search_follow_every_interaction_event() -> None:
    assert len(INTERACTION_EVENTS) == 32
    assert set(Timeline.handlers) == set(INTERACTION_EVENTS)
    assert set(Search.handlers) == set(INTERACTION_EVENTS)
    assert get_topic(Interaction.OfferRejected) in Timeline.topics


def test_each_projection_has_its_own_name_and_exact_topics() -> None:
    assert set(PROJECTION_NAMES) == {
        "timeline",
        "agent_inbox",
        "queue_waiting",
        "company_limits",
        "search",
        "quarantine",
        "dispatch",
        "contacts",
        "reports",
        "audit_log",
        "users",
        "access_tokens",
    }
    assert len(PROJECTION_NAMES) == len(set(PROJECTION_NAMES))
    for projection in PROJECTIONS:
        assert projection.topics == tuple(sorted(map(get_topic, projection.handlers)))


def test_times_are_fixed_width_rfc3339_utc() -> None:
    berlin = timezone(timedelta(hours=1))
    assert iso(datetime(2026, 3, 2, 10, 0, 5, 7, tzinfo=berlin)) == "2026-03-02T09:00:05.000007Z"
    assert iso(datetime(2026, 3, 2, 9, 0)) == "2026-03-02T09:00:00.000000Z"


def test_one_sql_text_serves_both_backends() -> None:
    text = "SELECT * FROM {entries} WHERE id = ? AND note LIKE '%x' AND n > ?"
    sqlite = make_view(SQLiteDatastore(f"file:{uuid4()}?mode=memory&cache=shared"), "v", TABLES)
    assert sqlite.sql(text) == "SELECT * FROM v_entries WHERE id = ? AND note LIKE '%x' AND n > ?"
    postgres = make_view(PostgresDatastore("db", "h", 5432, "u", "p", schema="s1"), "v", TABLES)
    assert postgres.sql(text) == (
        'SELECT * FROM "s1"."v_entries" WHERE id = %s AND note LIKE \'%%x\' AND n > %s'
    )
    assert postgres.sql("DELETE FROM {tracking}") == 'DELETE FROM "s1"."v_tracking"'


def test_a_batch_tracks_its_last_position_even_without_relevant_events() -> None:
    datastore = SQLiteDatastore(f"file:{uuid4()}?mode=memory&cache=shared")
    timeline = Timeline.open(datastore)
    assert timeline.process_batch([]) is None
    assert timeline.process_batch([], position=7) == 7
    assert timeline.view.max_tracking_id("ContactCenter") == 7
    with pytest.raises(IntegrityError):
        timeline.process_batch([], position=7)
    timeline.view.truncate()
    assert timeline.view.max_tracking_id("ContactCenter") is None
    assert timeline.view.dump() == {"entries": [], "interactions": [], "tracking": []}
    datastore.close()


def test_free_text_matches_percent_underscore_and_backslash_literally() -> None:
    assert like_pattern("100%_Off\\") == "%100\\%\\_off\\\\%"


def test_a_cursor_round_trips_and_garbage_is_refused() -> None:
    row = {"last_activity_at": iso(datetime(2026, 3, 2, tzinfo=UTC)), "interaction_id": "b"}
    assert decode_cursor(encode_cursor(row)) == (row["last_activity_at"], "b")
    for garbage in ("", "!!", "bm90IGpzb24", "WzFd"):
        with pytest.raises(InvalidCursor):
            decode_cursor(garbage)


def test_page_size_is_capped() -> None:
    assert SearchQuery(uuid4(), limit=10_000).limit == MAX_LIMIT
    assert SearchQuery(uuid4(), limit=0).limit == 1
    assert SearchQuery(uuid4(), visible_queue_ids=[]).matches_nothing


def test_lock_timeouts_and_lost_connections_are_transient_but_bugs_are_not(
    tmp_path: Path,
) -> None:
    holder = sqlite3.connect(tmp_path / "v.db", isolation_level=None)
    holder.execute("CREATE TABLE t (x INTEGER)")
    holder.execute("BEGIN IMMEDIATE")
    other = sqlite3.connect(tmp_path / "v.db", timeout=0)
    with pytest.raises(sqlite3.OperationalError) as busy:
        other.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(sqlite3.OperationalError) as bug:
        other.execute("SELECT * FROM missing")
    holder.rollback()
    assert is_transient(busy.value)
    assert not is_transient(bug.value)
    assert is_transient(psycopg.OperationalError("connection lost"))
    assert not is_transient(KeyError("bug"))
