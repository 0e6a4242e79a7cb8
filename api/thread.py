"""The thread of an interaction: its emails and internal notes, folded from its events.

Pure: the events and a lookup of each email's text come in, plain dicts come out. The
`/messages` route and the transcript export both read the thread through here, and both hide
a note addressed to one agent from everyone but that agent, supervisors and admins.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any
from uuid import UUID

from adapters.blobs import BlobNotFound, BlobStore
from adapters.mime import parse_message
from domain.errors import UnparseableMessage

MESSAGE_EVENTS = frozenset(
    {
        "Received",
        "Started",
        "MessageReceived",
        "ReplyQueued",
        "ForwardQueued",
        "AutoReplyQueued",
        "BounceReceived",
    }
)
PRIVILEGED_ROLES = frozenset({"supervisor", "admin"})


@dataclass(frozen=True)
class Body:
    """What the stored raw email adds to its event: the text, and its own Date header."""

    text: str = ""
    date: datetime | None = None


BodyOf = Callable[[str], Body]


def stored_bodies(blobs: BlobStore) -> BodyOf:
    """Reads each email's text from its raw bytes, once; a missing or broken one reads empty.

    html-only emails read as the text `adapters.mime` derives from their html."""

    @cache
    def body_of(blob: str) -> Body:
        try:
            parsed = parse_message(blobs.get(blob))
        except (BlobNotFound, UnparseableMessage):
            return Body()
        return Body(parsed.text, parsed.date)

    return body_of


def rfc3339(at: datetime) -> str:
    """UTC, to the second: `2026-03-02T09:00:00Z`."""
    return at.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def email_item(event: Any, body_of: BodyOf) -> dict[str, Any]:
    message = dict(event.message)
    body = body_of(message["blob"])
    return {
        "kind": "email",
        "at": event.timestamp.isoformat(),
        **message,
        "id": message["record_id"],
        "date": None if body.date is None else rfc3339(body.date),
        "body_text": body.text,
    }


def note_item(event: Any) -> dict[str, Any]:
    addressed: UUID | None = getattr(event, "for_agent_id", None)
    return {
        "kind": "note",
        "at": event.timestamp.isoformat(),
        "id": str(event.note_id),
        "author": event.actor,
        "text": event.text,
        "for_agent_id": None if addressed is None else str(addressed),
    }


def thread_item(event: Any, body_of: BodyOf) -> dict[str, Any] | None:
    """The email or note this event adds to the thread, or None for any other event."""
    kind = type(event).__name__
    if kind in MESSAGE_EVENTS:
        return email_item(event, body_of)
    if kind == "NoteAdded":
        return note_item(event)
    return None


def thread(events: Iterable[Any], body_of: BodyOf) -> list[dict[str, Any]]:
    """Customer and agent emails and internal notes, in the order they were recorded."""
    return [item for event in events if (item := thread_item(event, body_of)) is not None]


def may_read_note(for_agent_id: object, role: str, user_id: UUID | None) -> bool:
    """A note addressed to one agent is for that agent, supervisors and admins only."""
    if for_agent_id is None or role in PRIVILEGED_ROLES:
        return True
    return user_id is not None and str(for_agent_id) == str(user_id)


def readable(items: Iterable[dict[str, Any]], role: str, user_id: UUID | None) -> list[Any]:
    """Thread items without the notes this reader may not see."""
    return [
        item
        for item in items
        if item["kind"] != "note" or may_read_note(item.get("for_agent_id"), role, user_id)
    ]


def readable_timeline(
    entries: Iterable[dict[str, Any]], role: str, user_id: UUID | None
) -> list[dict[str, Any]]:
    """Timeline entries without the addressed notes this reader may not see."""
    return [
        entry
        for entry in entries
        if entry["type"] != "note_added"
        or may_read_note(entry["details"].get("for_agent_id"), role, user_id)
    ]
