"""A transcript of one interaction: its header, every email and note, and the key lifecycle
events, in the order they were recorded; as JSON, as plain text, and as sections for the PDF.

Times are UTC in RFC 3339 (`2026-03-02T09:00:00Z`), whatever the company's time zone, so that
one transcript reads the same everywhere. Bodies are the emails' text parts (html-only emails
read as the text `adapters.mime` derives); no html is rendered.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from adapters.transcript_pdf import Section
from api.thread import BodyOf, readable, rfc3339, thread_item
from domain.interaction import Interaction

FORMAT = "inboxflow.transcript/1"


@dataclass(frozen=True)
class Names:
    """Display names of the company's users and queues; None for one that is gone."""

    user: Callable[[UUID], str | None]
    queue: Callable[[UUID], str | None]

    def actor(self, actor: str) -> str:
        """`agent:<id>` as `A (agent)`; `system` and `customer` as they are."""
        kind, _, user_id = actor.partition(":")
        try:
            name = self.user(UUID(user_id)) if user_id else None
        except ValueError:  # not a user's id: shown as recorded
            name = None
        return f"{name} ({kind})" if name else actor

    def of_user(self, user_id: UUID | None) -> str:
        return "nobody" if user_id is None else self.user(user_id) or str(user_id)

    def of_queue(self, queue_id: UUID | None) -> str:
        return "no queue" if queue_id is None else self.queue(queue_id) or str(queue_id)


@dataclass(frozen=True)
class Reader:
    """Who exports: addressed notes are kept only for their agent, supervisors and admins."""

    role: str
    user_id: UUID | None


def build(
    interaction: Interaction,
    events: Iterable[Any],
    body_of: BodyOf,
    names: Names,
    reader: Reader,
    now: datetime,
) -> dict[str, Any]:
    """The transcript as JSON-native data."""
    entries = [entry for event in events if (entry := _entry(event, body_of, names)) is not None]
    return {
        "format": FORMAT,
        "generated_at": rfc3339(now),
        "interaction": _header(interaction, names, now),
        "entries": readable(entries, reader.role, reader.user_id),
    }


def _header(interaction: Interaction, names: Names, now: datetime) -> dict[str, Any]:
    queue = interaction.queue_id
    return {
        "id": str(interaction.id),
        "short_ref": interaction.short_ref,
        "subject": interaction.subject,
        "contact": interaction.customer,
        "mailbox": interaction.mailbox,
        "queue": {"id": None if queue is None else str(queue), "name": names.of_queue(queue)},
        "status": str(interaction.status),
        "substatus": interaction.substatus,
        "disposition": interaction.disposition,
        "handling_ms": interaction.handling_ms_at(now),
        "created_at": rfc3339(interaction.created_on),
    }


def _entry(event: Any, body_of: BodyOf, names: Names) -> dict[str, Any] | None:
    item = thread_item(event, body_of)
    at = rfc3339(event.timestamp)
    if item is not None and item["kind"] == "email":
        return {
            "kind": "email",
            "at": at,
            "direction": item["direction"],
            "from": item["sender"],
            "from_name": item["sender_name"],
            "to": item["to"],
            "cc": item["cc"],
            "date": item["date"],
            "subject": item["subject"],
            "body_text": item["body_text"],
            "attachments": [
                {key: a[key] for key in ("filename", "content_type", "size", "blob")}
                for a in item["attachments"]
            ],
        }
    if item is not None:
        addressed = item["for_agent_id"]
        return {
            "kind": "note",
            "at": at,
            "author": item["author"],
            "author_name": names.actor(item["author"]),
            "text": item["text"],
            "for_agent_id": addressed,
            "for_agent_name": None if addressed is None else names.of_user(UUID(addressed)),
        }
    summary = lifecycle_summary(event, names)
    if summary is None:
        return None
    kind = type(event).__name__
    return {
        "kind": "event",
        "at": at,
        "type": kind,
        "actor": event.actor,
        "actor_name": names.actor(event.actor),
        "summary": summary,
    }


def lifecycle_summary(event: Any, names: Names) -> str | None:
    """One line for a key lifecycle event; None for the others (offers, tags, drafts...)."""
    summaries: dict[str, Callable[[], str]] = {
        "Routed": lambda: (
            f"routed to queue {names.of_queue(event.queue_id)}"
            + (f" by rule {event.rule_id}" if event.rule_id else "")
        ),
        "Accepted": lambda: "accepted",
        "Parked": lambda: "parked",
        "Resumed": lambda: "resumed",
        "Transferred": lambda: (
            f"transferred to {names.of_user(event.to_agent_id)}"
            if event.to_agent_id is not None
            else f"transferred to queue {names.of_queue(event.to_queue_id)}"
        ),
        "ReturnedToQueue": lambda: f"returned to queue {names.of_queue(event.queue_id)}",
        "Closed": lambda: (
            "closed" + (f" as {' > '.join(event.disposition)}" if event.disposition else "")
        ),
        "Reopened": lambda: (
            f"reopened by {names.of_user(event.agent_id)}, who works on it"
            if event.agent_id is not None
            else f"reopened into queue {names.of_queue(event.queue_id)}, unassigned"
        ),
        "ContinuedIn": lambda: f"continued in interaction {event.interaction_id}",
        "SendFailed": lambda: f"an email could not be sent: {event.error}",
    }
    summary = summaries.get(type(event).__name__)
    return None if summary is None else summary()


def render_json(transcript: dict[str, Any]) -> bytes:
    return json.dumps(transcript, ensure_ascii=False, indent=2).encode()


def title(transcript: dict[str, Any]) -> str:
    header = transcript["interaction"]
    return f"Transcript [#{header['short_ref']}] {header['subject']}".rstrip()


def sections(transcript: dict[str, Any]) -> list[Section]:
    """The header, then one section per email, note and lifecycle event."""
    header = transcript["interaction"]
    status = header["status"] + (f" ({header['substatus']})" if header["substatus"] else "")
    disposition = header["disposition"]
    head = Section(
        title(transcript),
        (
            ("Reference", header["short_ref"]),
            ("Subject", header["subject"]),
            ("Contact", header["contact"]),
            ("Mailbox", header["mailbox"]),
            ("Queue", header["queue"]["name"]),
            ("Status", status),
            ("Disposition", " > ".join(disposition) if disposition else "none"),
            ("Handling time", duration(header["handling_ms"])),
            ("Created", header["created_at"]),
            ("Exported", transcript["generated_at"]),
        ),
    )
    return [head, *(_section(entry) for entry in transcript["entries"])]


def _section(entry: dict[str, Any]) -> Section:
    if entry["kind"] == "event":
        return Section(f"{entry['at']}  {entry['summary']} - by {entry['actor_name']}")
    if entry["kind"] == "note":
        addressed = entry["for_agent_name"]
        fields = (("For", f"{addressed} only"),) if addressed else ()
        heading = f"{entry['at']}  Note by {entry['author_name']}"
        return Section(heading, fields, entry["text"])
    sender = entry["from"]
    if entry["from_name"]:
        sender = f"{entry['from_name']} <{sender}>"
    files = ", ".join(
        f"{a['filename'] or 'unnamed'} ({size(a['size'])})" for a in entry["attachments"]
    )
    headers: tuple[tuple[str, str], ...] = (
        ("From", sender),
        ("To", ", ".join(entry["to"])),
        ("Cc", ", ".join(entry["cc"])),
        ("Date", entry["date"] or entry["at"]),
        ("Subject", entry["subject"]),
        ("Attachments", files),
    )
    direction = "received" if entry["direction"] == "in" else "sent"
    heading = f"{entry['at']}  Email {direction}"
    return Section(heading, tuple((k, v) for k, v in headers if v), entry["body_text"])


def render_text(transcript: dict[str, Any]) -> str:
    """Plain text: headings, `Label: value` lines, and bodies, sections apart by a rule."""
    blocks = []
    for section in sections(transcript):
        lines = [section.heading, *(f"{label}: {value}" for label, value in section.fields)]
        if section.text:
            lines += ["", section.text.rstrip()]
        blocks.append("\n".join(lines))
    return "\n\n".join([*blocks[:1], "-" * 72, *blocks[1:]]) + "\n"


def duration(ms: int) -> str:
    seconds = ms // 1000
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def size(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    return f"{n / 1024:.1f} KB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.1f} MB"
