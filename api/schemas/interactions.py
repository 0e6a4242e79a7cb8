"""Wire shapes of interactions and the commands on them."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import Field, model_validator

from api.schemas.common import Body, Out

MAX_BODY = 200_000
MAX_ATTACHMENTS = 20
MAX_ATTACHMENT_B64 = 32 * 1024 * 1024  # above 15 MB decoded is refused with 413, not 422


class InteractionOut(Out):
    id: UUID
    company_id: UUID
    short_ref: str
    status: str
    mailbox: str
    queue_id: UUID | None
    owner: UUID | None
    last_agent: UUID | None
    offered_to: UUID | None
    subject: str
    customer: str
    participants: list[str]
    substatus: str | None
    tags: list[str]
    unread: bool
    draft: dict[str, Any] | None
    handling_ms: int
    disposition: list[str] | None
    continues: UUID | None
    continued_in: UUID | None
    outbox: list[str]
    created_at: datetime
    updated_at: datetime
    version: int
    position: int


class AttachmentIn(Body):
    """A file sent with an email; at most 15 MB once decoded (413 above)."""

    filename: str = Field(min_length=1, max_length=255)
    content_type: str = Field(default="application/octet-stream", max_length=255)
    content_base64: str = Field(max_length=MAX_ATTACHMENT_B64)


class ThenIn(Body):
    """What happens once the email is queued: "send and close", or "send as" a sub-status."""

    close: list[str] | None = Field(default=None, max_length=3)
    substatus: str | None = Field(default=None, min_length=1, max_length=60)

    @model_validator(mode="after")
    def one_follow_up(self) -> ThenIn:
        if self.close is not None and self.substatus is not None:
            raise ValueError("give either close or substatus")
        return self


class ReplyIn(Body):
    body_text: str = Field(min_length=1, max_length=MAX_BODY)
    body_html: str | None = Field(default=None, max_length=MAX_BODY)
    to: list[str] | None = Field(default=None, max_length=50)
    cc: list[str] | None = Field(default=None, max_length=50)
    reply_all: bool = False
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=MAX_ATTACHMENTS)
    then: ThenIn | None = None


class ForwardIn(Body):
    to: list[str] = Field(min_length=1, max_length=50)
    cc: list[str] = Field(default_factory=list, max_length=50)
    body_text: str = Field(default="", max_length=MAX_BODY)
    body_html: str | None = Field(default=None, max_length=MAX_BODY)
    inline: bool = False  # quote the customer's email in the body instead of attaching it
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=MAX_ATTACHMENTS)
    then: ThenIn | None = None


class OutboundIn(Body):
    mailbox_id: UUID
    queue_id: UUID
    to: list[str] = Field(min_length=1, max_length=50)
    cc: list[str] = Field(default_factory=list, max_length=50)
    subject: str = Field(min_length=1, max_length=900)
    body_text: str = Field(min_length=1, max_length=MAX_BODY)
    body_html: str | None = Field(default=None, max_length=MAX_BODY)
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=MAX_ATTACHMENTS)


class TransferIn(Body):
    to_agent_id: UUID | None = None
    to_queue_id: UUID | None = None

    @model_validator(mode="after")
    def exactly_one_target(self) -> TransferIn:
        if (self.to_agent_id is None) == (self.to_queue_id is None):
            raise ValueError("give exactly one of to_agent_id and to_queue_id")
        return self


class NoteIn(Body):
    text: str = Field(min_length=1, max_length=10_000)
    # address the note to one agent: only they, supervisors and admins read it
    for_agent_id: UUID | None = None


class DraftIn(Body):
    body_text: str = Field(default="", max_length=MAX_BODY)
    body_html: str | None = Field(default=None, max_length=MAX_BODY)
    to: list[str] = Field(default_factory=list, max_length=50)
    cc: list[str] = Field(default_factory=list, max_length=50)


class SubstatusIn(Body):
    substatus: str | None = Field(max_length=60)


class TagsIn(Body):
    add: list[str] = Field(default_factory=list, max_length=50)
    remove: list[str] = Field(default_factory=list, max_length=50)


class CloseIn(Body):
    disposition: list[str] = Field(default_factory=list, max_length=3)


class PauseIn(Body):
    reason: str = Field(default="break", min_length=1, max_length=100)


class InboundOut(Out):
    interaction_id: UUID
    outcome: str
    position: int
