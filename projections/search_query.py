"""The SQL of one search page: filters, free text, and the keyset cursor."""

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

MAX_LIMIT = 200
OUT = (
    "interaction_id, company_id, short_ref, mailbox, status, queue_id, owner, first_agent, "
    "subject, customer, customer_name, created_at, last_activity_at, unread, substatus, "
    "disposition, handling_ms, last_direction, snippet"
)


class InvalidCursor(ValueError):
    """The cursor was not produced by a previous search page."""


def like_pattern(text: str) -> str:
    """A case-insensitive substring pattern; the user's `%`, `_` and `\\` match literally."""
    escaped = text.casefold().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def encode_cursor(row: Row) -> str:
    key = json.dumps([row["last_activity_at"], row["interaction_id"]])
    return urlsafe_b64encode(key.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        at, interaction_id = json.loads(urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (Base64Error, UnicodeDecodeError, ValueError, TypeError):
        raise InvalidCursor(f"invalid cursor {cursor!r}") from None
    if not isinstance(at, str) or not isinstance(interaction_id, str):
        raise InvalidCursor(f"invalid cursor {cursor!r}")
    return at, interaction_id


@dataclass
class SearchQuery:
    """Newest activity first; every filter given narrows the result."""

    company_id: UUID
    status: str | None = None
    queue_id: UUID | None = None
    agent_id: UUID | None = None
    tag: str | None = None
    unread: bool | None = None
    text: str | None = None
    since: datetime | None = None
    limit: int = 50
    cursor: str | None = None
    visible_queue_ids: Collection[UUID] | None = None
    where: list[str] = field(init=False, default_factory=list)
    params: list[Any] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        self.limit = max(1, min(self.limit, MAX_LIMIT))
        self._add("company_id = ?", self.company_id)
        self._add("status = ?", self.status)
        self._add("queue_id = ?", self.queue_id)
        self._add("owner = ?", self.agent_id)
        self._add("unread = ?", self.unread)
        self._add("last_activity_at >= ?", self.since)
        self._add("interaction_id IN (SELECT interaction_id FROM {tags} WHERE tag = ?)", self.tag)
        if self.text:
            self._add("search_text LIKE ? ESCAPE '\\'", like_pattern(self.text))
        if self.visible_queue_ids:
            queues = list(self.visible_queue_ids)
            self.where.append(f"queue_id IN ({', '.join('?' * len(queues))})")
            self.params.extend(queues)
        if self.cursor is not None:
            at, interaction_id = decode_cursor(self.cursor)
            self.where.append(
                "(last_activity_at < ? OR (last_activity_at = ? AND interaction_id < ?))"
            )
            self.params.extend([at, at, interaction_id])

    def _add(self, condition: str, value: Any) -> None:
        if value is not None:
            self.where.append(condition)
            self.params.append(value)

    @property
    def matches_nothing(self) -> bool:
        return self.visible_queue_ids is not None and not self.visible_queue_ids

    def statement(self, columns: str) -> tuple[str, list[Any]]:
        """One row more than the page, to tell whether another page follows."""
        text = (
            f"SELECT {columns} FROM {{interactions}} WHERE {' AND '.join(self.where)} "
            "ORDER BY last_activity_at DESC, interaction_id DESC LIMIT ?"
        )
        return text, [*self.params, self.limit + 1]


class Page:
    """The rows of one page and the cursor of the next, if any."""

    def __init__(self, rows: list[Row], limit: int) -> None:
        self.rows = rows[:limit]
        self.next_cursor = encode_cursor(self.rows[-1]) if len(rows) > limit else None


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
