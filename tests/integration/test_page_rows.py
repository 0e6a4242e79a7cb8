"""Row sets and counters write back exactly what a row-at-a-time model says, on both backends.

Generated pages of operations on a table keyed by a logical key that is not its primary key
(as the agent inbox keeps its rows), with a composite primary key and a nullable BIGINT, and
on counters; after each committed page the table equals the model, and a page that fails at
its end leaves the table as the previous page left it.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.persistence import Persistence
from projections.views import Table, View, make_view

ITEMS = Table(
    "items",
    "owner TEXT NOT NULL, item TEXT NOT NULL, size BIGINT, flag INTEGER NOT NULL, note TEXT",
    "owner, item",
    ("item",),
)
TOTALS = Table(
    "totals", "owner TEXT NOT NULL, metric TEXT NOT NULL, value BIGINT NOT NULL", "owner, metric"
)
DUPLICATE = (sqlite3.IntegrityError, psycopg.IntegrityError, IntegrityError)
KEYS = st.sampled_from(["a", "b", "c", "d", "e"])
TEXTS = st.text(alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"))
ROW = st.fixed_dictionaries(
    {
        "owner": st.sampled_from(["ann", "bob", "o'hara"]),
        "size": st.none() | st.integers(-(2**62), 2**62),
        "flag": st.booleans(),
        "note": st.none() | TEXTS,
    }
)
OPERATION = st.one_of(
    st.tuples(st.just("put"), KEYS, ROW),
    st.tuples(st.just("update"), KEYS, ROW),
    st.tuples(st.just("delete"), KEYS, st.none()),
    st.tuples(st.just("get"), KEYS, st.none()),
    st.tuples(st.just("add"), st.sampled_from(["x", "y"]), st.integers(-5, 5)),
)
PAGES = st.lists(st.lists(OPERATION, max_size=12), min_size=1, max_size=4)


@pytest.fixture
def view(persistence: Persistence) -> Any:
    made = make_view(persistence.view_datastore("rows"), "rows", (ITEMS, TOTALS))
    made.create_tables()
    yield made
    made.close()


def stored(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "flag": int(row["flag"])}


def apply_page(view: View, page: list[Any], items: dict[str, Any], totals: dict[Any, int]) -> None:
    with view.transaction() as tx:
        rows, counters = tx.rows("items", "item"), tx.counters("totals", "value")
        for operation, key, value in page:
            if operation == "put":
                rows.put({**value, "item": key})
                items[key] = stored({**value, "item": key})
            elif operation == "update":
                changes = {name: value[name] for name in ("size", "flag", "note")}
                changed = rows.update(key, **changes)
                if key in items:
                    items[key] = stored({**items[key], **changes})
                assert changed == items.get(key)
            elif operation == "delete":
                rows.delete(key)
                items.pop(key, None)
            elif operation == "get":
                assert rows.get(key) == items.get(key)
            else:
                counters.add(("acme", key), value)
                totals[("acme", key)] = totals.get(("acme", key), 0) + value


def table(view: View) -> tuple[dict[str, Any], dict[Any, int]]:
    items = {row["item"]: row for row in view.select("SELECT * FROM {items}")}
    totals = view.select("SELECT owner, metric, value FROM {totals}")
    return items, {(row["owner"], row["metric"]): row["value"] for row in totals}


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(pages=PAGES)
def test_rows_written_back_equal_the_model(view: View, pages: list[Any]) -> None:
    with view.transaction() as tx:
        tx.execute("DELETE FROM {items}").execute("DELETE FROM {totals}")
    items: dict[str, Any] = {}
    totals: dict[Any, int] = {}
    for page in pages:
        apply_page(view, page, items, totals)
        found_items, found_totals = table(view)
        assert found_items == items
        assert found_totals == {k: v for k, v in totals.items() if k in found_totals}
        assert all(totals[k] == 0 for k in totals.keys() - found_totals.keys())


def write_over_a_stored_key(view: View, *, first: dict[str, Any] | None = None) -> None:
    """A page that inserts a row over a key the table holds: it fails at its end."""
    with view.transaction() as tx:
        if first is not None:
            tx.rows("items", "item").put(first)
        tx.rows("items", "item").insert(
            {"owner": "ann", "item": "a", "size": 3, "flag": 1, "note": None}
        )


def test_a_page_that_fails_at_its_end_writes_nothing(view: View) -> None:
    apply_page(view, [("put", "a", {"owner": "ann", "size": 1, "flag": 0, "note": None})], {}, {})
    before = table(view)
    other = {"owner": "bob", "item": "b", "size": 2, "flag": 1, "note": ""}
    with pytest.raises(DUPLICATE):
        write_over_a_stored_key(view, first=other)
    assert table(view) == before
    assert before[0]["a"]["size"] == 1
