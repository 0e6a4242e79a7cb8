"""Mailbox settings between the wire and the event: secrets sealed in, never shown out."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from adapters.secrets import SecretBox
from api.bootstrap import Services
from api.schemas.mailboxes import MailboxIn, MailboxOut
from domain.auto_reply import AutoReplyConfig

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
    if body.auto_reply is not None:
        AutoReplyConfig.parse(body.auto_reply)  # refuses a malformed configuration
        settings["auto_reply"] = body.auto_reply
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
        auto_reply=settings.get("auto_reply"),
        allow_plaintext=bool(settings.get("allow_plaintext")),
        status=status,
        position=position,
    )


def mailbox_status(services: Services, company_id: UUID, mailbox: dict[str, Any]) -> dict[str, Any]:
    """What ingestion last saw of an IMAP mailbox; paused also when the limits view says so."""
    if not (mailbox.get("settings") or {}).get("imap"):
        return {"ingesting": False}
    row = services.mailbox_status.get(UUID(mailbox["id"])) or {}
    limits = services.read.company_limits.get(company_id) or {}
    return {
        "ingesting": True,
        "connected": bool(row.get("connected")),
        "last_fetch_at": row.get("last_fetch_at"),
        "last_error": row.get("last_error"),
        "last_error_at": row.get("last_error_at"),
        "failures": row.get("failures", 0),
        "next_attempt_at": row.get("next_attempt_at"),
        "paused_by_limit": bool(row.get("paused_by_limit") or limits.get("paused")),
        "ingested": row.get("ingested", 0),
        "last_uid": row.get("last_uid"),
    }
