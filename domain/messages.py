"""Values carried by interaction events: the email summaries projections need."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import NotRequired, TypedDict
from uuid import UUID


class Status(StrEnum):
    RECEIVED = "received"
    QUEUED = "queued"
    OFFERED = "offered"
    ACTIVE = "active"
    PARKED = "parked"
    CLOSED = "closed"


OPEN = frozenset({Status.RECEIVED, Status.QUEUED, Status.OFFERED, Status.ACTIVE, Status.PARKED})
OWNED = frozenset({Status.ACTIVE, Status.PARKED})


class AttachmentInfo(TypedDict):
    filename: str
    content_type: str
    size: int
    blob: str


class MessageInfo(TypedDict):
    """One email in or out, as events record it; the raw bytes stay in the blob store."""

    record_id: str
    rfc_message_id: str
    direction: str
    sender: str
    sender_name: str
    to: list[str]
    cc: list[str]
    subject: str
    snippet: str
    text: NotRequired[str]  # the plain text, whitespace collapsed, at most 4,000 characters
    blob: str
    attachments: list[AttachmentInfo]


@dataclass(frozen=True)
class InboundEmail:
    """A parsed inbound email reduced to what the model decides on."""

    rfc_message_id: str
    sender: str
    sender_name: str = ""
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    envelope_recipients: tuple[str, ...] = ()
    subject: str = ""
    snippet: str = ""
    text: str | None = None  # see `MessageInfo.text`; None leaves it out, as older events did
    blob: str = ""
    in_reply_to: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    ref_tokens: tuple[str, ...] = ()
    attachments: tuple[AttachmentInfo, ...] = field(default_factory=tuple)
    bounce_of: tuple[str, ...] = ()  # a delivery status notification: the Message-IDs it reports

    def info(self, record_id: UUID) -> MessageInfo:
        info = MessageInfo(
            record_id=str(record_id),
            rfc_message_id=self.rfc_message_id,
            direction="in",
            sender=self.sender.casefold(),
            sender_name=self.sender_name,
            to=list(self.to),
            cc=list(self.cc),
            subject=self.subject,
            snippet=self.snippet,
            blob=self.blob,
            attachments=list(self.attachments),
        )
        if self.text is not None:
            info["text"] = self.text
        return info

    def thread_candidates(self) -> list[str]:
        """Message-IDs this email answers, most specific first."""
        return list(dict.fromkeys([*self.in_reply_to, *reversed(self.references)]))
