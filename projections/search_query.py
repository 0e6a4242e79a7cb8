"""The SQL of one search page: filters, free text, conditions, and the keyset cursor.

Pages go by last activity, newest first, with a cursor on `(last_activity_at, interaction_id)`.
The first page also fixes a horizon (the log position the view had reached), carried in the
cursor: later pages show only interactions created up to it, so mail arriving while a client
pages neither repeats nor pushes aside a row it has not seen yet. An interaction whose own
activity changes meanwhile moves to the top, above the cursor; refreshing page 1 shows it.
"""

from __future__ import annotations

import json
from base64 import urlsafe_b64decode, urlsafe_b64encode
from binascii import Error as Base64Error
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from projections.base import Row, Tx
from projections.search_fields import status_clause
from projections.search_text import free_text, like_pattern

__all__ = ["MAX_LIMIT", "OUT", "InvalidCursor", "Page", "SearchQuery", "like_pattern"]

MAX_LIMIT = 200
OUT = (
    "interaction_id, company_id, short_ref, mailbox, status, queue_id, owner, first_agent, "
    "subject, customer, customer_name, created_at, last_activity_at, unread, unread_count, "
    "substatus, disposition, handling_ms, last_direction, snippet"
)


class InvalidCursor(ValueError):
    """The cursor was not produced by a previous search page."""


def encode_cursor(row: Row, horizon: int | None = None) -> str:
    key = [row["last_activity_at"], row["interaction_id"]]
    text = json.dumps(key if horizon is None else [*key, horizon])
    return urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decoded(cursor: str) -> list[Any]:
    try:
        key = json.loads(urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (Base64Error, UnicodeDecodeError, ValueError, TypeError):
        raise InvalidCursor(f"invalid cursor {cursor!r}") from None
    shape_ok = isinstance(key, list) and len(key) in (2, 3)
    if not shape_ok or not all(isinstance(part, str) for part in key[:2]):
        raise InvalidCursor(f"invalid cursor {cursor!r}")
    if len(key) == 3 and (type(key[2]) is not int or key[2] < 0):
        raise InvalidCursor(f"invalid cursor {cursor!r}")
    return list(key)


def decode_cursor(cursor: str) -> tuple[str, str]:
    """The `(last_activity_at, interaction_id)` after which the next page starts."""
    at, interaction_id = _decoded(cursor)[:2]
    return at, interaction_id


def cursor_horizon(cursor: str) -> int | None:
    """The log position the first page fixed (None in cursors that carry none)."""
    key = _decoded(cursor)
    return key[2] if len(key) == 3 else None


@dataclass
class SearchQuery:
    """Newest activity first; every filter given narrows the result.

    `status` is a fine state or a group (see `search_fields.STATUS_GROUPS`); `owner` and
    `unassigned` test the owner; times are bounds on `[created_from, created_before)` and
    `last_activity_at >= since`; `condition` is a compiled advanced search.
    """

    company_id: UUID
    status: str | None = None
    substatus: str | None = None
    queue_ids: Collection[UUID] = ()
    mailboxes: Collection[str] = ()
    owner: UUID | None = None
    unassigned: bool = False
    first_agent: UUID | None = None
    tags: Collection[str] = ()
    unread: bool | None = None
    text: str | None = None
    since: datetime | None = None
    created_from: datetime | None = None
    created_before: datetime | None = None
    condition: tuple[str, list[Any]] | None = None
    limit: int = 50
    cursor: str | None = None
    horizon: int | None = None
    visible_queue_ids: Collection[UUID] | None = None
    visible_owner: UUID | None = None  # with a profile, this user's own interactions show too
    dialect: str = "sqlite"
    where: list[str] = field(init=False, default_factory=list)
    params: list[Any] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        self.limit = max(1, min(self.limit, MAX_LIMIT))
        self._add("company_id = ?", self.company_id)
        if self.status is not None:
            self.where.append(status_clause(self.status))
        self._add("substatus = ?", self.substatus)
        self._add_any("queue_id", self.queue_ids)
        self._add_any("mailbox", [m.strip().casefold() for m in self.mailboxes])
        self._add("owner = ?", self.owner)
        if self.unassigned:
            self.where.append("owner IS NULL")
        self._add("first_agent = ?", self.first_agent)
        for tag in dict.fromkeys(self.tags):
            self._add("interaction_id IN (SELECT interaction_id FROM {tags} WHERE tag = ?)", tag)
        self._add("unread = ?", self.unread)
        self._add("last_activity_at >= ?", self.since)
        self._add("created_at >= ?", self.created_from)
        self._add("created_at < ?", self.created_before)
        if self.condition is not None:
            self.where.append(self.condition[0])
            self.params.extend(self.condition[1])
        if self.visible_queue_ids is not None:
            self._add_visible(list(self.visible_queue_ids), self.visible_owner)
        self._add_keyset()

    def _add(self, condition: str, value: Any) -> None:
        if value is not None:
            self.where.append(condition)
            self.params.append(value)

    def _add_any(self, column: str, values: Collection[Any]) -> None:
        if values:
            self.where.append(f"{column} IN ({', '.join('?' * len(values))})")
            self.params.extend(values)

    def _add_visible(self, queues: list[UUID], owner: UUID | None) -> None:
        """Interactions in the profile's queues or owned by the caller; else nothing."""
        shown = [f"queue_id IN ({', '.join('?' * len(queues))})"] if queues else []
        shown += ["owner = ?"] if owner is not None else []
        self.where.append(f"({' OR '.join(shown)})" if shown else "1 = 0")
        self.params.extend([*queues, *([owner] if owner is not None else [])])

    def _add_keyset(self) -> None:
        if self.cursor is not None:
            at, interaction_id = decode_cursor(self.cursor)
            self.where.append(
                "(last_activity_at < ? OR (last_activity_at = ? AND interaction_id < ?))"
            )
            self.params.extend([at, at, interaction_id])
            self.horizon = cursor_horizon(self.cursor)
        self._add("created_position <= ?", self.horizon)

    @property
    def matches_nothing(self) -> bool:
        return (
            self.visible_queue_ids is not None
            and not self.visible_queue_ids
            and self.visible_owner is None
        )

    def statement(self, columns: str) -> tuple[str, list[Any]]:
        """One row more than the page, to tell whether another page follows."""
        where, params = list(self.where), list(self.params)
        if found := free_text(self.text or "", self.company_id, self.dialect):
            where.append(found[0])
            params.extend(found[1])
        text = (
            f"SELECT {columns} FROM {{interactions}} WHERE {' AND '.join(where)} "
            f"ORDER BY {NEWEST_FIRST} LIMIT ?"
        )
        return text, [*params, self.limit + 1]

    def window_statement(self, columns: str, window: int) -> tuple[str, list[Any]] | None:
        """`statement` over the `window` newest rows that pass every filter but the free
        text (PostgreSQL, with free text only): when it finds a full page, that page is the
        same as `statement`'s, found without collecting every match of common words."""
        if self.dialect != "postgres":
            return None
        found = free_text(self.text or "", self.company_id, self.dialect, row="recent")
        if found is None:
            return None
        text = (
            f"SELECT {columns} FROM (SELECT * FROM {{interactions}} "
            f"WHERE {' AND '.join(self.where)} ORDER BY {NEWEST_FIRST} LIMIT ?) AS recent "
            f"WHERE {found[0]} ORDER BY {NEWEST_FIRST} LIMIT ?"
        )
        return text, [*self.params, window, *found[1], self.limit + 1]


NEWEST_FIRST = "last_activity_at DESC, interaction_id DESC"


class Page:
    """The rows of one page and the cursor of the next, if any."""

    def __init__(self, rows: list[Row], limit: int, horizon: int | None = None) -> None:
        self.rows = rows[:limit]
        more = len(rows) > limit
        self.next_cursor = encode_cursor(self.rows[-1], horizon) if more else None


def with_tags(tx: Tx, rows: list[Row]) -> list[Row]:
    """Rows as callers see them: flags as bools, the disposition path, the tags."""
    tags: dict[str, list[str]] = {row["interaction_id"]: [] for row in rows}
    if tags:
        marks = ", ".join("?" * len(tags))
        for found in tx.execute(
            f"SELECT interaction_id, tag FROM {{tags}} WHERE "
            f"interaction_id IN ({marks}) ORDER BY tag",
            *tags,
        ).all():
            tags[found["interaction_id"]].append(found["tag"])
    return [
        {
            **row,
            "unread": bool(row["unread"]),
            "tags": tags[row["interaction_id"]],
            "disposition": None if row["disposition"] is None else json.loads(row["disposition"]),
        }
        for row in rows
    ]
