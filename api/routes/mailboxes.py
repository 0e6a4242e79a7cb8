"""Mailboxes of a company: the addresses mail arrives at and is sent from."""

from __future__ import annotations

from uuid import UUID, uuid4

from fastapi import APIRouter, status

from adapters.mime import parse_address
from api.deps import CurrentUser, ServicesDep
from api.mailboxes import mailbox_out, mailbox_status, sealed_settings
from api.schemas.mailboxes import MailboxIn, MailboxOut
from domain.errors import MailboxNotFound

router = APIRouter(prefix="/v1/companies/{company_id}/mailboxes", tags=["mailboxes"])


@router.post("", status_code=status.HTTP_201_CREATED)
def add_mailbox(
    company_id: UUID, body: MailboxIn, user: CurrentUser, services: ServicesDep
) -> MailboxOut:
    """Add a mailbox: its address, default queue, and IMAP/SMTP settings (secrets sealed)."""
    scope, mailbox_id = user.scope(company_id, "admin"), uuid4()
    saved = services.app.add_mailbox(
        scope,
        mailbox_id,
        address=parse_address(body.address).address,
        default_queue_id=body.default_queue_id,
        settings=sealed_settings(body, services.secrets),
        by=user.actor,
        at=services.clock(),
    )
    return mailbox_out(scope, saved.aggregate.mailboxes[str(mailbox_id)], saved.position)


@router.get("")
def list_mailboxes(company_id: UUID, user: CurrentUser, services: ServicesDep) -> list[MailboxOut]:
    """The company's mailboxes, without secrets."""
    scope = user.scope(company_id, "admin", "supervisor")
    company = services.app.company(scope)
    return [
        mailbox_out(scope, m, 0, mailbox_status(services, scope, m))
        for m in company.mailboxes.values()
    ]


@router.get("/{mailbox_id}")
def get_mailbox(
    company_id: UUID, mailbox_id: UUID, user: CurrentUser, services: ServicesDep
) -> MailboxOut:
    """One mailbox's settings, without secrets, and its ingestion status."""
    scope = user.scope(company_id, "admin", "supervisor")
    mailbox = services.app.company(scope).mailboxes.get(str(mailbox_id))
    if mailbox is None:
        raise MailboxNotFound(f"no mailbox {mailbox_id}")
    return mailbox_out(scope, mailbox, 0, mailbox_status(services, scope, mailbox))


@router.put("/{mailbox_id}")
def change_mailbox(
    company_id: UUID, mailbox_id: UUID, body: MailboxIn, user: CurrentUser, services: ServicesDep
) -> MailboxOut:
    """Replace a mailbox's address, default queue and settings."""
    scope = user.scope(company_id, "admin")
    saved = services.app.change_mailbox(
        scope,
        mailbox_id,
        address=parse_address(body.address).address,
        default_queue_id=body.default_queue_id,
        settings=sealed_settings(body, services.secrets),
        by=user.actor,
        at=services.clock(),
    )
    return mailbox_out(scope, saved.aggregate.mailboxes[str(mailbox_id)], saved.position)


@router.delete("/{mailbox_id}", status_code=status.HTTP_204_NO_CONTENT)
def remove_mailbox(
    company_id: UUID, mailbox_id: UUID, user: CurrentUser, services: ServicesDep
) -> None:
    """Stop using a mailbox; mail already received stays."""
    services.app.remove_mailbox(
        user.scope(company_id, "admin"), mailbox_id, by=user.actor, at=services.clock()
    )
