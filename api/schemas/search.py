"""Wire shapes of interaction lists and the advanced search."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import Field

from api.schemas.common import Body, Out
from projections.search_fields import FieldName, Operator

StatusFilter = Literal[
    "queued",
    "offered",
    "active",
    "parked",
    "closed",
    "open",
    "open_with_substatus",
    "closed_unmanaged",
]


class ConditionIn(Body):
    """`field op value`; `value` null (with `equals`) asks for an empty optional field."""

    field: FieldName
    op: Operator
    value: str | None = Field(max_length=500)


class AdvancedSearchIn(Body):
    """Conditions that must `all` hold, or of which `any` one must hold."""

    match: Literal["all", "any"] = "all"
    conditions: list[ConditionIn] = Field(min_length=1, max_length=20)
    limit: int = Field(default=50, ge=1, le=200)
    cursor: str | None = Field(default=None, max_length=500)


class InteractionRowOut(Out):
    """One interaction in a list: enough to show the row without opening it."""

    interaction_id: UUID
    company_id: UUID
    short_ref: str
    mailbox: str
    status: str
    substatus: str | None
    queue_id: UUID | None
    owner: UUID | None
    first_agent: UUID | None
    subject: str
    customer: str
    customer_name: str
    created_at: datetime
    last_activity_at: datetime
    unread: bool
    unread_count: int
    last_direction: str
    snippet: str
    disposition: list[str] | None
    handling_ms: int
    tags: list[str]


class InteractionPageOut(Out):
    items: list[InteractionRowOut]
    next_cursor: str | None
