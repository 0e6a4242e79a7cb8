"""The search's SQL against a plain-Python reading of the same rows, on an in-memory SQLite view."""

from __future__ import annotations

import json
from base64 import urlsafe_b64encode
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, get_args
from uuid import uuid4
from zoneinfo import ZoneInfo

import pytest
from eventsourcing.sqlite import SQLiteDatastore
from hypothesis import given
from hypothesis import strategies as st

from domain.ids import short_ref
from domain.interaction import Interaction
from domain.messages import MessageInfo
from projections.search import Search
from projections.search_fields import FIELDS, Condition, FieldName, compile_conditions, moment
from projections.search_query import (
    InvalidCursor,
    SearchQuery,
    cursor_horizon,
    decode_cursor,
    encode_cursor,
)
from projections.search_text import (
    MESSAGE_TEXT_CAP,
    InvalidSearch,
    free_text,
    index_words,
    with_message,
)
from projections.views import iso
from tests.unit.search_model import (
    COMPANY,
    T0,
    WORDS,
    conditions,
    fast,
    filters,
    holds,
    listed,
    many,
    newest_first,
    stored,
)


@fast
@given(rows=many, horizon=st.integers(1, 30), wanted=st.lists(filters, min_size=1, max_size=4))
def test_filters_find_exactly_the_rows_a_plain_reading_finds(
    rows: list[dict[str, Any]], horizon: int, wanted: list[dict[str, Any]]
) -> None:
    with stored(rows, horizon) as search:
        for f in wanted:
            found, _ = search.search(COMPANY, limit=200, **f)
            expected = [r for r in rows if listed(r, f) and r["created_position"] <= horizon]
            assert [r["interaction_id"] for r in found] == newest_first(expected), f


@fast
@given(rows=many, limit=st.integers(1, 4), text=st.none() | st.sampled_from(WORDS))
def test_pages_of_any_size_add_up_to_the_whole_list(
    rows: list[dict[str, Any]], limit: int, text: str | None
) -> None:
    with stored(rows, 30) as search:
        whole, _ = search.search(COMPANY, limit=200, text=text)
        walked: list[str] = []
        cursor = None
        for _ in range(len(rows) + 1):  # a repeating cursor fails here instead of looping
            page, cursor = search.search(COMPANY, limit=limit, cursor=cursor, text=text)
            assert len(page) <= limit
            walked += [r["interaction_id"] for r in page]
            if cursor is None:
                break
        assert cursor is None
        assert walked == [r["interaction_id"] for r in whole]


@fast
@given(
    rows=many,
    match=st.sampled_from(("all", "any")),
    chosen=st.lists(conditions(), min_size=1, max_size=4),
)
def test_conditions_find_exactly_the_rows_a_plain_reading_finds(
    rows: list[dict[str, Any]], match: str, chosen: list[Condition]
) -> None:
    with stored(rows, 30) as search:
        found, _ = search.find(COMPANY, chosen, match=match, limit=200)
        combine = all if match == "all" else any
        expected = [
            r
            for r in rows
            if r["company_id"] == str(COMPANY) and combine(holds(r, c) for c in chosen)
        ]
        assert [r["interaction_id"] for r in found] == newest_first(expected)


def test_every_field_has_a_column_from_the_whitelist_and_no_input_reaches_the_sql() -> None:
    assert set(FIELDS) == set(get_args(FieldName))
    hostile = "subject; DROP TABLE x --"
    for bad in (Condition(hostile, "equals", "x"), Condition("subject", hostile, "x")):
        with pytest.raises(InvalidSearch):
            compile_conditions([bad], "all")
    text, params = compile_conditions([Condition("subject", "contains", "'; DROP --")], "all")
    assert "DROP" not in text
    assert params == ["%'; drop --%"]
    with pytest.raises(InvalidSearch):
        compile_conditions([], "all")
    with pytest.raises(InvalidSearch):
        compile_conditions([Condition("subject", "contains", "x")] * 21, "any")


def test_a_date_is_a_day_in_the_zone_and_an_instant_is_one_microsecond() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    assert moment("2026-03-02", berlin) == (
        datetime(2026, 3, 1, 23, 0, tzinfo=UTC),
        datetime(2026, 3, 2, 23, 0, tzinfo=UTC),
    )
    start, end = (at.astimezone(UTC) for at in moment("2026-03-29", berlin))  # clocks go forward
    assert end - start == timedelta(hours=23)
    at = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    assert (
        moment("2026-03-02T09:30:00")
        == moment("2026-03-02T10:30:00+01:00")
        == (
            at,
            at + timedelta(microseconds=1),
        )
    )


def test_on_postgresql_whole_words_use_the_index_and_punctuation_matches_as_written() -> None:
    clause, params = sql_of("Invo e_c", "postgres")
    assert "to_tsquery('simple', ?)" in clause
    assert "LIKE" in clause
    assert params[:2] == [COMPANY, "'invo':* & 'c':*"]
    assert "%e\\_c%" in params
    clause, params = sql_of("refund", "postgres")
    assert "LIKE" not in clause
    assert params == [COMPANY, "'refund':*"]
    clause, params = sql_of("%", "postgres")
    assert "to_tsquery" not in clause
    assert set(params) == {"%\\%%"}
    assert free_text("   ", COMPANY, "postgres") is None
    with pytest.raises(InvalidSearch):
        free_text(" ".join(f"w{n}" for n in range(21)), COMPANY, "sqlite")


def sql_of(q: str, dialect: str = "sqlite") -> tuple[str, list[Any]]:
    found = free_text(q, COMPANY, dialect)
    assert found is not None
    return found


def test_ids_references_and_addresses_match_exactly() -> None:
    interaction = uuid4()
    ref = short_ref(interaction)
    clause, params = sql_of(str(interaction))
    assert clause.startswith("(interaction_id = ?")
    assert params[0] == str(interaction)
    for q in (ref, f"[#{ref}]", f"#{ref.lower()}"):
        clause, params = sql_of(q)
        assert clause.startswith("(short_ref = ?")
        assert params[0] == ref
    clause, params = sql_of("Carol@Customer.Test")
    assert clause.startswith("(customer = ?")
    assert params[0] == "carol@customer.test"
    assert "?" not in sql_of("invoice")[0].partition("subject_key LIKE")[0]  # no exact match


def test_the_stored_text_keeps_the_latest_messages_within_the_cap() -> None:
    text = ""
    for n in range(30):
        text = with_message(text, f"message{n} " + "word " * 200)
    assert len(text) <= MESSAGE_TEXT_CAP
    assert text.endswith("message29 " + "word " * 199 + "word")
    assert "message0 " not in text
    assert text.split(" ")[0] in (
        "word",
        *(f"message{n}" for n in range(30)),
    )
    assert with_message("", "  Two\n\tLines  ") == "two lines"
    assert (
        index_words("carol@customer.test", "snake_case 100%")
        == "carol customer test snake case 100"
    )


def test_cursors_carry_the_horizon_and_garbage_is_refused() -> None:
    row = {"last_activity_at": iso(T0), "interaction_id": "b"}
    cursor = encode_cursor(row, horizon=42)
    assert (decode_cursor(cursor), cursor_horizon(cursor)) == ((iso(T0), "b"), 42)
    assert cursor_horizon(encode_cursor(row)) is None
    query = SearchQuery(COMPANY, cursor=cursor)
    assert query.horizon == 42
    assert "created_position <= ?" in query.where
    for key in (["a", "b", -1], ["a", "b", "x"], ["a", "b", True], [1, 2], ["a"]):
        garbage = urlsafe_b64encode(json.dumps(key).encode()).decode()
        with pytest.raises(InvalidCursor):
            SearchQuery(COMPANY, cursor=garbage)


@pytest.fixture
def projection() -> Iterator[Search]:
    search = Search.open(SQLiteDatastore(f"file:{uuid4()}?mode=memory&cache=shared"))
    yield search
    search.view.close()


def message(text: str | None, snippet: str, direction: str = "in") -> MessageInfo:
    info = MessageInfo(
        record_id=str(uuid4()),
        rfc_message_id=f"<{uuid4()}@x.test>",
        direction=direction,
        sender="carol@customer.test",
        sender_name="Carol",
        to=["support@acme.test"],
        cc=[],
        subject="Order",
        snippet=snippet,
        blob="",
        attachments=[],
    )
    if text is not None:
        info["text"] = text
    return info


def test_the_projection_indexes_the_text_or_the_snippet_of_older_events(projection: Search) -> None:
    interaction = uuid4()
    received = Interaction.Received(
        originator_id=interaction,
        originator_version=1,
        timestamp=T0,
        originator_topic="domain.interaction:Interaction",
        company_id=COMPANY,
        mailbox="support@acme.test",
        message=message(None, "Older event"),
        continues=None,
        actor="customer",
    )
    again = Interaction.MessageReceived(
        originator_id=interaction,
        originator_version=2,
        timestamp=T0 + timedelta(minutes=1),
        message=message("The whole body, far beyond the snippet", "The whole"),
        actor="customer",
    )
    projection.process_batch([(received, 1), (again, 2)])

    def found(q: str) -> int:
        return len(projection.search(COMPANY, text=q)[0])

    def row() -> dict[str, Any]:
        current = projection.get(interaction)
        assert current is not None
        return current

    assert (found("older"), found("beyond"), found("nowhere")) == (1, 1, 0)
    assert (row()["unread_count"], row()["snippet"], row()["status"]) == (
        2,
        "The whole",
        "received",
    )
    read = Interaction.MarkedRead(
        originator_id=interaction, originator_version=3, timestamp=T0, actor="agent"
    )
    unread = Interaction.MarkedUnread(
        originator_id=interaction, originator_version=4, timestamp=T0, actor="agent"
    )
    projection.process_batch([(read, 3)])
    assert (row()["unread"], row()["unread_count"]) == (False, 0)
    projection.process_batch([(unread, 4)])
    assert (row()["unread"], row()["unread_count"]) == (True, 1)
