"""Rows for the search view and a plain-Python reading of filters and conditions over them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.persistence import Tracking
from eventsourcing.sqlite import SQLiteDatastore
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from domain.ids import short_ref
from projections.search import Search
from projections.search_fields import FIELDS, OPERATORS, STATUSES, Condition, moment
from projections.search_text import fold
from projections.views import iso

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
COMPANY, OTHER = UUID(int=1), UUID(int=2)
QUEUES = (UUID(int=11), UUID(int=12))
AGENTS = (UUID(int=21), UUID(int=22))
MAILBOXES = ("support@acme.test", "sales@acme.test")
WORDS = ("invoice", "Refund", "100%", "snake_case", "Ünïcode", "a\\b", "late", "straße")
CUSTOMERS = ("carol@customer.test", "dan@shop.test", "zoe_1@x.test")
NAMES = ("Carol", "Dan Brown", "")
TAGS = ("vip", "gold", "x_y")
STATES = ("received", "queued", "offered", "active", "parked", "closed")
OPEN = {"received", "queued", "offered", "active", "parked"}


def text_of(draw: st.DrawFn) -> str:
    return " ".join(draw(st.lists(st.sampled_from(WORDS), max_size=3)))


@st.composite
def interactions(draw: st.DrawFn) -> dict[str, Any]:
    """One stored row of the search view (tags and message text included), as the projection
    would write it."""
    created = draw(st.integers(0, 40))
    subject, name = text_of(draw), draw(st.sampled_from(NAMES))
    disposition = draw(st.sampled_from([None, ["Resolved"], ["Resolved", "Refund"], ["Spam"]]))
    interaction_id = draw(st.uuids())
    return {
        "interaction_id": str(interaction_id),
        "company_id": str(draw(st.sampled_from((COMPANY, COMPANY, OTHER)))),
        "short_ref": short_ref(interaction_id),
        "mailbox": draw(st.sampled_from(MAILBOXES)),
        "status": draw(st.sampled_from(STATES)),
        "queue_id": draw(st.sampled_from((*map(str, QUEUES), None))),
        "owner": draw(st.sampled_from((*map(str, AGENTS), None))),
        "first_agent": draw(st.sampled_from((*map(str, AGENTS), None))),
        "subject": subject,
        "subject_key": fold(subject),
        "customer": draw(st.sampled_from(CUSTOMERS)),
        "customer_name": name,
        "customer_name_key": fold(name),
        "created_at": iso(T0 + timedelta(minutes=created)),
        "created_position": draw(st.integers(1, 30)),
        "last_activity_at": iso(T0 + timedelta(minutes=created + draw(st.integers(0, 3)))),
        "unread": draw(st.sampled_from((0, 1))),
        "unread_count": 0,
        "substatus": draw(st.sampled_from((None, "Pending", "Later"))),
        "disposition": None,
        "disposition_key": None if disposition is None else fold(" / ".join(disposition)),
        "handling_ms": 0,
        "last_direction": "in",
        "snippet": "",
        "message_text": fold(text_of(draw)),
        "tags": draw(st.sets(st.sampled_from(TAGS))),
    }


@contextmanager
def stored(rows: list[dict[str, Any]], horizon: int) -> Iterator[Search]:
    """A fresh search view holding `rows`, having processed the log up to `horizon`."""
    search = Search.open(SQLiteDatastore(f"file:{uuid4()}?mode=memory&cache=shared"))
    try:
        with search.view.transaction() as tx:
            search.view.track(tx, Tracking(Search.application_name, horizon))
            for row in rows:
                columns = {k: v for k, v in row.items() if k not in ("tags", "message_text")}
                tx.insert("interactions", **columns)
                texts = {k: row[k] for k in ("interaction_id", "company_id", "message_text")}
                tx.insert("texts", **texts)
                for tag in row["tags"]:
                    tx.insert("tags", interaction_id=row["interaction_id"], tag=tag)
        yield search
    finally:
        search.view.close()


def newest_first(rows: list[dict[str, Any]]) -> list[str]:
    ordered = sorted(rows, key=lambda r: (r["last_activity_at"], r["interaction_id"]), reverse=True)
    return [r["interaction_id"] for r in ordered]


def in_status(row: dict[str, Any], status: str) -> bool:
    groups = {
        "open": row["status"] in OPEN,
        "open_with_substatus": row["status"] in OPEN and row["substatus"] is not None,
        "closed_unmanaged": row["status"] == "closed" and row["first_agent"] is None,
    }
    return groups.get(status, row["status"] == status)


def text_matches(row: dict[str, Any], q: str) -> bool:
    """SQLite's reading: every term anywhere (the generated terms never name an id or address)."""
    fields = (row["subject_key"], row["customer"], row["customer_name_key"], row["message_text"])
    return all(any(term in f for f in fields) for term in fold(q).split())


DEFAULTS: dict[str, Any] = {"queue_ids": (), "mailboxes": (), "unassigned": False, "tags": ()}


def listed(row: dict[str, Any], given: dict[str, Any]) -> bool:
    f: dict[str, Any] = {**dict.fromkeys(FILTER_VALUES), **DEFAULTS, **given}
    checks = [
        row["company_id"] == str(COMPANY),
        f["status"] is None or in_status(row, f["status"]),
        f["substatus"] is None or row["substatus"] == f["substatus"],
        not f["queue_ids"] or row["queue_id"] in map(str, f["queue_ids"]),
        not f["mailboxes"] or row["mailbox"] in [m.casefold() for m in f["mailboxes"]],
        f["owner"] is None or row["owner"] == str(f["owner"]),
        not f["unassigned"] or row["owner"] is None,
        f["first_agent"] is None or row["first_agent"] == str(f["first_agent"]),
        set(f["tags"]) <= row["tags"],
        f["unread"] is None or row["unread"] == f["unread"],
        f["text"] is None or text_matches(row, f["text"]),
        f["since"] is None or row["last_activity_at"] >= iso(f["since"]),
        f["created_from"] is None or row["created_at"] >= iso(f["created_from"]),
        f["created_before"] is None or row["created_at"] < iso(f["created_before"]),
        f["visible_queue_ids"] is None or row["queue_id"] in map(str, f["visible_queue_ids"]),
    ]
    return all(checks)


minutes = st.integers(0, 45).map(lambda n: T0 + timedelta(minutes=n))
FILTER_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "status": st.none() | st.sampled_from(STATUSES),
    "substatus": st.none() | st.sampled_from(("Pending", "Later")),
    "queue_ids": st.lists(st.sampled_from(QUEUES), max_size=2),
    "mailboxes": st.lists(st.sampled_from((*MAILBOXES, "SALES@acme.test")), max_size=2),
    "owner": st.none() | st.sampled_from(AGENTS),
    "unassigned": st.booleans(),
    "first_agent": st.none() | st.sampled_from(AGENTS),
    "tags": st.lists(st.sampled_from(TAGS), max_size=2),
    "unread": st.none() | st.booleans(),
    "text": st.none()
    | st.lists(
        st.sampled_from((*WORDS, "ice", "E_C", "_", "@shop.", "%")), min_size=1, max_size=2
    ).map(" ".join),
    "since": st.none() | minutes,
    "created_from": st.none() | minutes,
    "created_before": st.none() | minutes,
    "visible_queue_ids": st.none() | st.lists(st.sampled_from(QUEUES), max_size=2),
}
filters = st.fixed_dictionaries({}, optional=FILTER_VALUES)  # each filter present or not
many = st.lists(interactions(), max_size=25, unique_by=lambda r: r["interaction_id"])
fast = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def condition_values(field: str) -> st.SearchStrategy[str | None]:
    kind = FIELDS[field].kind
    if kind == "text":
        return st.sampled_from((*WORDS, *CUSTOMERS, *MAILBOXES, "resolved / refund", "spam", "c"))
    if kind == "id":
        return st.sampled_from((*map(str, QUEUES), *map(str, AGENTS), None))
    if kind == "status":
        return st.sampled_from(STATUSES)
    if kind == "keyword":
        return st.sampled_from(("Pending", "Later", None))
    if kind == "tag":
        return st.sampled_from(TAGS)
    return st.sampled_from(
        ("2026-03-02", "2026-03-01", *(iso(T0 + timedelta(minutes=n)) for n in (0, 7, 20)))
    )


@st.composite
def conditions(draw: st.DrawFn) -> Condition:
    field = draw(st.sampled_from(list(FIELDS)))
    op = draw(st.sampled_from(OPERATORS[FIELDS[field].kind]))
    value = draw(condition_values(field))
    return Condition(field, "equals" if value is None else op, value)


def holds(row: dict[str, Any], c: Condition) -> bool:
    """Whether the condition holds for the row, read the plain way."""
    field = FIELDS[c.field]
    column = "message_text" if c.field == "text" else field.column
    value = row[column] if field.kind != "tag" else row["tags"]
    if c.value is None:
        return value is None
    if field.kind == "text":
        wanted = fold(c.value)
        if value is None:
            return False
        return {"equals": value == wanted, "contains": wanted in value}.get(
            c.op, value.startswith(wanted)
        )
    if field.kind == "date":
        start, end = (iso(at) for at in moment(c.value))
        return {"before": value < start, "after": value >= end, "equals": start <= value < end}[
            c.op
        ]
    if field.kind == "status":
        return in_status(row, c.value)
    if field.kind == "tag":
        return c.value in value
    return bool(value == c.value)
