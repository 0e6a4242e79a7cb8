"""Contacts: the customers of the caller's company, their edits, and their journey."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query

from api.auth import Principal
from api.deps import CurrentUser, ServicesDep, await_position
from api.schemas.contacts import ContactEditIn, ContactOut, ContactPage, JourneyPage
from domain.errors import ContactNotFound, InvalidInput

router = APIRouter(prefix="/v1/contacts", tags=["contacts"])
Cursor = Annotated[str | None, Query(max_length=500)]
Limit = Annotated[int, Query(ge=1, le=200)]


def company_of(user: Principal, contact_id: UUID | None = None) -> UUID:
    if user.company_id is None:  # the operator manages companies and meets no customers
        raise ContactNotFound(f"no contact {contact_id}" if contact_id else "no contacts")
    return user.company_id


def contact_out(row: dict[str, Any], position: int = 0) -> ContactOut:
    return ContactOut(id=row["contact_id"], position=position, **_without(row, "contact_id"))


def _without(row: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {key: value for key, value in row.items() if key not in keys}


@router.get("")
def find_contacts(
    user: CurrentUser,
    services: ServicesDep,
    q: Annotated[str | None, Query(max_length=200)] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
    min_position: int = 0,
) -> ContactPage:
    """Contacts whose name or one of whose addresses contains `q`, most recently seen first."""
    company_id = company_of(user)
    await_position(services, min_position)
    rows, next_cursor = services.read.contacts.find(company_id, text=q, limit=limit, cursor=cursor)
    return ContactPage(items=[contact_out(row) for row in rows], next_cursor=next_cursor)


@router.get("/{contact_id}")
def get_contact(
    contact_id: UUID, user: CurrentUser, services: ServicesDep, min_position: int = 0
) -> ContactOut:
    company_id = company_of(user, contact_id)
    await_position(services, min_position)
    row = services.read.contacts.get(company_id, contact_id)
    if row is None:
        raise ContactNotFound(f"no contact {contact_id}")
    return contact_out(row)


@router.patch("/{contact_id}")
def edit_contact(
    contact_id: UUID, body: ContactEditIn, user: CurrentUser, services: ServicesDep
) -> ContactOut:
    """Rename, add and remove addresses in one edit. An address another contact has is
    refused with 409; an address added here brings its past interactions along."""
    company_id = company_of(user, contact_id)
    user.require("agent", "supervisor", "admin")
    seen = services.read.contacts.get(company_id, contact_id)
    saved = services.app.edit_contact(
        company_id,
        contact_id,
        name=body.name,
        add_addresses=body.add_addresses,
        remove_addresses=body.remove_addresses,
        seen_address=None if seen is None else seen["primary_address"],
        seen_name="" if seen is None else seen["name"],
        by=user.actor,
        at=services.clock(),
    )
    await_position(services, saved.position)
    row = services.read.contacts.get(company_id, contact_id)
    if row is None:
        raise ContactNotFound(f"no contact {contact_id}")
    return contact_out(row, saved.position)


@router.get("/{contact_id}/journey")
def journey(
    contact_id: UUID,
    user: CurrentUser,
    services: ServicesDep,
    since: Annotated[datetime | None, Query(alias="from")] = None,
    until: Annotated[datetime | None, Query(alias="to")] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
    min_position: int = 0,
) -> JourneyPage:
    """Every interaction of the contact created in [from, to), newest first; interactions
    in queues the caller may not see are left out."""
    company_id = company_of(user, contact_id)
    if since is not None and until is not None and until <= since:
        raise InvalidInput("`to` must be later than `from`")
    await_position(services, min_position)
    if services.read.contacts.get(company_id, contact_id) is None:
        raise ContactNotFound(f"no contact {contact_id}")
    rows, next_cursor = services.read.contacts.journey(
        contact_id,
        since=since,
        until=until,
        limit=limit,
        cursor=cursor,
        visible_queue_ids=user.visible_queue_ids,
    )
    return JourneyPage.model_validate(
        {"contact_id": contact_id, "items": rows, "next_cursor": next_cursor}
    )
