"""Wire shapes of contacts and their journey."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import Field

from api.schemas.common import Body, Out
from domain.contact import MAX_ADDRESS, MAX_ADDRESSES, MAX_NAME

Address = Annotated[str, Field(max_length=MAX_ADDRESS)]


class ContactEditIn(Body):
    """Only the fields given change; an edit either applies whole or not at all."""

    name: str | None = Field(default=None, max_length=MAX_NAME)
    add_addresses: list[Address] = Field(default_factory=list, max_length=MAX_ADDRESSES)
    remove_addresses: list[Address] = Field(default_factory=list, max_length=MAX_ADDRESSES)


class ContactOut(Out):
    id: UUID
    company_id: UUID
    name: str
    name_edited: bool
    primary_address: str
    addresses: list[str]
    first_seen_at: datetime
    last_seen_at: datetime
    interaction_count: int
    position: int = 0


class ContactPage(Out):
    items: list[ContactOut]
    next_cursor: str | None


class JourneyEntry(Out):
    interaction_id: UUID
    address: str
    created_at: datetime
    subject: str
    status: str
    queue_id: UUID | None
    last_activity_at: datetime


class JourneyPage(Out):
    contact_id: UUID
    items: list[JourneyEntry]
    next_cursor: str | None
