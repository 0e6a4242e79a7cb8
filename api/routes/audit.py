"""A company's audit log: who changed its configuration, when, and how."""

from __future__ import annotations

from base64 import urlsafe_b64decode, urlsafe_b64encode
from binascii import Error as Base64Error
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query

from api.deps import CurrentUser, ServicesDep, await_position
from api.schemas.common import Out
from projections.search_query import InvalidCursor

router = APIRouter(prefix="/v1/companies/{company_id}/audit-log", tags=["audit"])
MAX_LIMIT = 200


class SubjectOut(Out):
    kind: str  # "company", "mailbox", "queue" or "user"
    id: str
    name: str | None


class AuditEntryOut(Out):
    position: int
    at: datetime
    actor: str
    type: str
    subject: SubjectOut
    details: dict[str, Any]


class AuditLogOut(Out):
    items: list[AuditEntryOut]
    next_cursor: str | None


def encode_cursor(position: int) -> str:
    return urlsafe_b64encode(f"before:{position}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        text = urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (Base64Error, UnicodeDecodeError, ValueError):
        raise InvalidCursor(f"invalid cursor {cursor!r}") from None
    kind, _, position = text.partition(":")
    if kind != "before" or not position.isdigit():
        raise InvalidCursor(f"invalid cursor {cursor!r}")
    return int(position)


@router.get("")
def audit_log(
    company_id: UUID,
    user: CurrentUser,
    services: ServicesDep,
    since: Annotated[datetime | None, Query(alias="from")] = None,
    to: datetime | None = None,
    type: Annotated[str | None, Query(max_length=100)] = None,
    actor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    min_position: int = 0,
) -> AuditLogOut:
    """Configuration changes, newest first: `from` inclusive, `to` exclusive; `next_cursor`
    fetches the older page."""
    scope = user.scope(company_id, "admin", "supervisor")
    await_position(services, min_position)
    rows = services.read.audit_log.entries(
        scope,
        since=since,
        until=to,
        type=type,
        actor=actor,
        before=None if cursor is None else decode_cursor(cursor),
        limit=limit + 1,
    )
    page = rows[:limit]
    items = [
        AuditEntryOut(
            position=row["position"],
            at=row["at"],
            actor=row["actor"],
            type=row["type"],
            subject=SubjectOut(
                kind=row["subject_kind"], id=row["subject_id"], name=row["subject_name"]
            ),
            details=row["details"],
        )
        for row in page
    ]
    next_cursor = encode_cursor(page[-1]["position"]) if len(rows) > limit else None
    return AuditLogOut(items=items, next_cursor=next_cursor)
