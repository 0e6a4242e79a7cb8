"""Mailbox settings between the wire and the event: secrets sealed in, never shown out."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from adapters.secrets import SecretBox
from api.schemas.mailboxes import MailboxIn, MailboxOut

SECRET_FIELDS = ("password",)


def sealed_settings(body: MailboxIn, box: SecretBox) -> dict[str, Any]:
    settings: dict[str, Any] = {"allow_plaintext": body.allow_plaintext}
    for name, peer in (("imap", body.imap), ("smtp", body.smtp)):
        if peer is None:
            settings[name] = None
            continue
        values = peer.model_dump()
        for field in SECRET_FIELDS:
            if values.get(field):
                values[field] = box.seal(values[field])
        settings[name] = values
    return settings


def without_secrets(peer: dict[str, Any] | None) -> dict[str, Any] | None:
    if peer is None:
        return None
    shown = {k: v for k, v in peer.items() if k not in SECRET_FIELDS}
    shown["password_set"] = bool(peer.get("password"))
    return shown


def mailbox_out(
    company_id: UUID, mailbox: dict[str, Any], position: int, status: dict[str, Any] | None = None
) -> MailboxOut:
    settings = mailbox.get("settings", {})
    return MailboxOut(
        id=UUID(mailbox["id"]),
        company_id=company_id,
        address=mailbox["address"],
        default_queue_id=UUID(mailbox["default_queue_id"]),
        imap=without_secrets(settings.get("imap")),
        smtp=without_secrets(settings.get("smtp")),
        allow_plaintext=bool(settings.get("allow_plaintext")),
        status=status,
        position=position,
    )
