"""The reads of the contacts view: lists by keyset cursor, one contact, one journey."""

from __future__ import annotations

import json
from base64 import urlsafe_b64decode, urlsafe_b64encode
from binascii import Error as Base64Error
from collections.abc import Collection
from datetime import datetime
from typing import Any
from uuid import UUID

from projections.base import Row, Tx, View
from projections.search_query import InvalidCursor

MAX_LIMIT = 200
CONTACT = (
    "contact_id, company_id, name, name_edited, primary_address, first_seen_at, last_seen_at, "
    "interaction_count"
)
JOURNEY = "interaction_id, address, created_at, subject, status, queue_id, last_activity_at"


def search_text(name: str, addresses: Collection[str]) -> str:
    return "\x1f".join([name, *addresses]).casefold()


def containing(text: str) -> str:
    """A `LIKE ... ESCAPE '\\'` pattern; the user's `%`, `_` and `\\` match literally."""
    escaped = text.casefold().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def cursor_after(at: str, key: str) -> str:
    return urlsafe_b64encode(json.dumps([at, key]).encode()).decode().rstrip("=")


def cursor_position(cursor: str) -> tuple[str, str]:
    """The (time, id) a page ended at, from the cursor `cursor_after` gave."""
    try:
        at, key = json.loads(urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (Base64Error, UnicodeDecodeError, ValueError, TypeError):
        raise InvalidCursor(f"invalid cursor {cursor!r}") from None
    if not isinstance(at, str) or not isinstance(key, str):
        raise InvalidCursor(f"invalid cursor {cursor!r}")
    return at, key


class ContactQueries:
    """Mixed into the `Contacts` projection, whose view holds the tables."""

    view: View

    def find(
        self,
        company_id: UUID,
        *,
        text: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> tuple[list[Row], str | None]:
        """Contacts whose name or an address contains `text`, most recently seen first."""
        limit = max(1, min(limit, MAX_LIMIT))
        where, params = ["company_id = ?"], list[Any]([company_id])
        if text and text.strip():
            where.append("search_text LIKE ? ESCAPE '\\'")
            params.append(containing(text.strip()))
        if cursor is not None:
            at, contact_id = cursor_position(cursor)
            where.append("(last_seen_at < ? OR (last_seen_at = ? AND contact_id < ?))")
            params += [at, at, contact_id]
        with self.view.transaction(commit=False) as tx:
            rows = tx.execute(
                f"SELECT {CONTACT} FROM {{contacts}} WHERE {' AND '.join(where)} "
                "ORDER BY last_seen_at DESC, contact_id DESC LIMIT ?",
                *params,
                limit + 1,
            ).all()
            page = self._with_addresses(tx, rows[:limit])
        last = page[-1] if len(rows) > limit else None
        return page, None if last is None else cursor_after(
            last["last_seen_at"], last["contact_id"]
        )

    def get(self, company_id: UUID, contact_id: UUID) -> Row | None:
        with self.view.transaction(commit=False) as tx:
            rows = tx.execute(
                f"SELECT {CONTACT} FROM {{contacts}} WHERE contact_id = ? AND company_id = ?",
                contact_id,
                company_id,
            ).all()
            return self._with_addresses(tx, rows)[0] if rows else None

    def journey(
        self,
        contact_id: UUID,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        cursor: str | None = None,
        visible_queue_ids: Collection[UUID] | None = None,
    ) -> tuple[list[Row], str | None]:
        """The contact's interactions created in [since, until), newest first."""
        if visible_queue_ids is not None and not visible_queue_ids:
            return [], None
        limit = max(1, min(limit, MAX_LIMIT))
        where, params = ["contact_id = ?"], list[Any]([contact_id])
        for condition, value in (("created_at >= ?", since), ("created_at < ?", until)):
            if value is not None:
                where.append(condition)
                params.append(value)
        if visible_queue_ids is not None:
            where.append(f"queue_id IN ({', '.join('?' * len(visible_queue_ids))})")
            params += list(visible_queue_ids)
        if cursor is not None:
            at, interaction_id = cursor_position(cursor)
            where.append("(created_at < ? OR (created_at = ? AND interaction_id < ?))")
            params += [at, at, interaction_id]
        rows = self.view.select(
            f"SELECT {JOURNEY} FROM {{interactions}} WHERE {' AND '.join(where)} "
            "ORDER BY created_at DESC, interaction_id DESC LIMIT ?",
            *params,
            limit + 1,
        )
        last = rows[limit - 1] if len(rows) > limit else None
        following = (
            None if last is None else cursor_after(last["created_at"], last["interaction_id"])
        )
        return rows[:limit], following

    def _with_addresses(self, tx: Tx, rows: list[Row]) -> list[Row]:
        """Rows as callers see them: the flag as a bool, the addresses, primary first."""
        found: dict[str, list[str]] = {row["contact_id"]: [] for row in rows}
        if found:
            marks = ", ".join("?" * len(found))
            for row in tx.execute(
                f"SELECT contact_id, address FROM {{addresses}} WHERE contact_id IN ({marks}) "
                "ORDER BY address",
                *found,
            ).all():
                found[row["contact_id"]].append(row["address"])
        return [
            {
                **row,
                "name_edited": bool(row["name_edited"]),
                "addresses": [
                    row["primary_address"],
                    *(a for a in found[row["contact_id"]] if a != row["primary_address"]),
                ],
            }
            for row in rows
        ]
