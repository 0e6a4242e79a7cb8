"""Wire shapes of interactions and the commands on them."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import Field, model_validator

from api.schemas.common import Body, Out

MAX_BODY = 200_000


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


class ReplyIn(Body):
    body_text: str = Field(min_length=1, max_length=MAX_BODY)
    body_html: str | None = Field(default=None, max_length=MAX_BODY)
    to: list[str] | None = Field(default=None, max_length=50)
    cc: list[str] | None = Field(default=None, max_length=50)
    reply_all: bool = False


class ForwardIn(Body):
    to: list[str] = Field(min_length=1, max_length=50)
    cc: list[str] = Field(default_factory=list, max_length=50)
    body_text: str = Field(default="", max_length=MAX_BODY)
    body_html: str | None = Field(default=None, max_length=MAX_BODY)


class OutboundIn(Body):
    mailbox_id: UUID
    queue_id: UUID
    to: list[str] = Field(min_length=1, max_length=50)
    cc: list[str] = Field(default_factory=list, max_length=50)
    subject: str = Field(min_length=1, max_length=900)
    body_text: str = Field(min_length=1, max_length=MAX_BODY)
    body_html: str | None = Field(default=None, max_length=MAX_BODY)


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
