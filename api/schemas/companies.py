"""Wire shapes of company configuration."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import AwareDatetime, Field, model_validator

from api.schemas.common import Body, Out


class CompanyIn(Body):
    name: str = Field(min_length=1, max_length=200)
    open_limit: int = Field(ge=1, le=1_000_000)
    timezone: str = Field(default="UTC", max_length=64)


class CompanyOut(Out):
    id: UUID
    name: str
    timezone: str
    open_limit: int
    mailboxes: list[dict[str, Any]]
    routing_rules: list[dict[str, Any]]
    routing_version: int
    dispositions: dict[str, Any]
    substatuses: list[str]
    position: int


class UserIn(Body):
    name: str = Field(min_length=1, max_length=200)
    email: str = Field(min_length=3, max_length=320)
    role: Literal["agent", "supervisor", "admin"]
    queues: list[UUID] = Field(default_factory=list, max_length=100)
    capacity: int = Field(default=3, ge=1, le=100)


class UserOut(Out):
    id: UUID
    company_id: UUID
    name: str
    email: str
    role: str
    queues: list[UUID]
    capacity: int
    logged_in: bool
    paused_reason: str | None
    on_call: bool
    held: list[UUID]
    active: UUID | None
    position: int


class NewUserOut(UserOut):
    token: str


class UserDetailOut(UserOut):
    visible_queues: list[UUID] | None  # None: every queue of the company


class UserPatchIn(Body):
    """A partial change: absent fields stay; `visible_queues: null` means every queue."""

    role: Literal["agent", "supervisor", "admin"] | None = None
    queues: list[UUID] | None = Field(default=None, max_length=100)
    visible_queues: list[UUID] | None = Field(default=None, max_length=100)
    capacity: int | None = Field(default=None, ge=1, le=100)

    @model_validator(mode="after")
    def only_visible_queues_may_be_null(self) -> UserPatchIn:
        for name in self.model_fields_set - {"visible_queues"}:
            if getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null; leave it out to keep it")
        return self


class UserSummaryOut(Out):
    id: UUID
    name: str
    email: str
    role: str
    queues: list[UUID]
    visible_queues: list[UUID] | None
    capacity: int
    registered_at: datetime


class UserListOut(Out):
    items: list[UserSummaryOut]
    truncated: bool  # more users than one answer lists


class TokenIn(Body):
    label: str | None = Field(default=None, min_length=1, max_length=100)
    expires_at: AwareDatetime | None = None


class TokenOut(Out):
    id: UUID
    label: str | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


class NewTokenOut(Out):
    id: UUID
    token: str  # shown only in this answer; the server keeps its hash
    label: str | None
    created_at: datetime
    expires_at: datetime | None
    position: int


class TokenListOut(Out):
    items: list[TokenOut]


class QueueIn(Body):
    name: str = Field(min_length=1, max_length=100)
    priority: int = Field(default=0, ge=0, le=100)


class QueueOut(Out):
    id: UUID
    company_id: UUID
    name: str
    priority: int
    closed: bool
    position: int


class RulesIn(Body):
    rules: list[dict[str, Any]] = Field(max_length=200)


class OpenLimitIn(Body):
    open_limit: int = Field(ge=1, le=1_000_000)


class DispositionNode(Body):
    name: str = Field(min_length=1, max_length=100)
    children: list[DispositionNode] = Field(default_factory=list, max_length=100)


class DispositionsIn(Body):
    tree: list[DispositionNode] = Field(max_length=100)
    mandatory: bool = False
    default: list[str] | None = Field(default=None, max_length=3)
    timeout_seconds: int | None = Field(default=None, ge=1)


class SubstatusesIn(Body):
    substatuses: list[str] = Field(max_length=50)


class LimitsOut(Out):
    company_id: UUID
    open_count: int
    open_limit: int
    paused: bool
