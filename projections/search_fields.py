"""Advanced search: conditions on a whitelist of fields, combined with AND (`all`) or OR (`any`).

Column names come from `FIELDS`, never from input; values always travel as parameters. Text
fields compare case-insensitively; a date value is a day in the company's time zone
(`2026-03-02`) or an instant (`2026-03-02T09:00:00Z`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any, Literal
from uuid import UUID

from projections.search_text import InvalidSearch, fold, like_pattern
from projections.views import iso

FieldName = Literal[
    "subject",
    "contact_email",
    "contact_name",
    "text",
    "mailbox",
    "queue_id",
    "owner",
    "first_agent",
    "status",
    "substatus",
    "tag",
    "created_at",
    "last_activity_at",
    "disposition",
]
Operator = Literal["equals", "contains", "starts_with", "before", "after"]
Kind = Literal["text", "id", "keyword", "status", "tag", "date"]
OPERATORS: dict[Kind, tuple[Operator, ...]] = {
    "text": ("equals", "contains", "starts_with"),
    "date": ("equals", "before", "after"),
    "id": ("equals",),
    "keyword": ("equals",),
    "status": ("equals",),
    "tag": ("equals",),
}
OPEN = "status IN ('received', 'queued', 'offered', 'active', 'parked')"
STATUS_GROUPS = {
    "open": OPEN,
    "open_with_substatus": f"{OPEN} AND substatus IS NOT NULL",
    "closed": "status = 'closed'",
    "closed_unmanaged": "status = 'closed' AND first_agent IS NULL",  # no agent ever accepted
}
FINE_STATES = ("queued", "offered", "active", "parked", "closed")
STATUSES = tuple(dict.fromkeys((*FINE_STATES, *STATUS_GROUPS)))


@dataclass(frozen=True)
class Field:
    """One field conditions may name: where it is stored and which operators it takes."""

    column: str
    kind: Kind
    nullable: bool = False
    table: str = "interactions"  # `texts` holds the messages' text, apart from the busy rows


FIELDS: dict[str, Field] = {
    "subject": Field("subject_key", "text"),
    "contact_email": Field("customer", "text"),
    "contact_name": Field("customer_name_key", "text"),
    "text": Field("message_text", "text", table="texts"),
    "mailbox": Field("mailbox", "text"),
    "disposition": Field("disposition_key", "text", nullable=True),
    "queue_id": Field("queue_id", "id", nullable=True),
    "owner": Field("owner", "id", nullable=True),
    "first_agent": Field("first_agent", "id", nullable=True),
    "status": Field("status", "status"),
    "substatus": Field("substatus", "keyword", nullable=True),
    "tag": Field("interaction_id", "tag"),
    "created_at": Field("created_at", "date"),
    "last_activity_at": Field("last_activity_at", "date"),
}


@dataclass(frozen=True)
class Condition:
    """One condition of an advanced search; `value` None asks for an empty nullable field."""

    field: str
    op: str
    value: str | None


def status_clause(status: str) -> str:
    """SQL for a fine state or a group; the text comes from this module, never from input."""
    if status in STATUS_GROUPS:
        return f"({STATUS_GROUPS[status]})"
    if status in FINE_STATES:
        return f"status = '{status}'"
    raise InvalidSearch(f"unknown status {status!r}; use one of {', '.join(STATUSES)}")


def moment(value: str, tz: tzinfo = UTC) -> tuple[datetime, datetime]:
    """The half-open interval a date value names: a day in `tz`, or one instant (naive = UTC)."""
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            start = datetime(day.year, day.month, day.day, tzinfo=tz)
            after = day + timedelta(days=1)
            return start, datetime(after.year, after.month, after.day, tzinfo=tz)
        at = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidSearch(f"{value!r} is neither a date nor a date and time") from None
    at = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    return at, at + timedelta(microseconds=1)


def compile_conditions(
    conditions: Sequence[Condition], match: str, tz: tzinfo = UTC
) -> tuple[str, list[Any]]:
    """One SQL condition (with its parameters) for the whole advanced search."""
    if match not in ("all", "any"):
        raise InvalidSearch(f"match is 'all' or 'any', not {match!r}")
    if not 1 <= len(conditions) <= 20:
        raise InvalidSearch("an advanced search has 1 to 20 conditions")
    clauses, params = [], []
    for condition in conditions:
        clause, values = _compile(condition, tz)
        clauses.append(clause)
        params += values
    return f"({(' AND ' if match == 'all' else ' OR ').join(clauses)})", params


def _compile(condition: Condition, tz: tzinfo) -> tuple[str, list[Any]]:
    field = FIELDS.get(condition.field)
    if field is None:
        raise InvalidSearch(f"unknown field {condition.field!r}; use one of {', '.join(FIELDS)}")
    allowed = OPERATORS[field.kind]
    if condition.op not in allowed:
        raise InvalidSearch(
            f"{condition.field} ({field.kind}) takes {', '.join(allowed)}, not {condition.op!r}"
        )
    value = condition.value
    if value is None:
        if not (field.nullable and condition.op == "equals"):
            raise InvalidSearch(f"{condition.field} {condition.op} needs a value")
        return f"{field.column} IS NULL", []
    clause, params = _compare(field, condition.field, condition.op, value, tz)
    if field.table != "interactions":
        clause = f"interaction_id IN (SELECT interaction_id FROM {{{field.table}}} WHERE {clause})"
    return clause, params


def _compare(field: Field, name: str, op: str, value: str, tz: tzinfo) -> tuple[str, list[Any]]:
    column = field.column
    if field.kind == "text":
        if op == "equals":
            return f"{column} = ?", [fold(value)]
        if not fold(value):
            raise InvalidSearch(f"{name} {op} needs a non-blank value")
        pattern = like_pattern(value, prefix=op == "starts_with")
        return f"{column} LIKE ? ESCAPE '\\'", [pattern]
    if field.kind == "date":
        start, end = moment(value, tz)
        if op == "before":
            return f"{column} < ?", [iso(start)]
        if op == "after":
            return f"{column} >= ?", [iso(end)]
        return f"({column} >= ? AND {column} < ?)", [iso(start), iso(end)]
    if field.kind == "id":
        try:
            return f"{column} = ?", [str(UUID(value))]
        except ValueError:
            raise InvalidSearch(f"{name} takes an id, not {value!r}") from None
    if field.kind == "status":
        return status_clause(value), []
    if field.kind == "tag":
        return "interaction_id IN (SELECT interaction_id FROM {tags} WHERE tag = ?)", [
            value.strip()
        ]
    return f"{column} = ?", [value]
