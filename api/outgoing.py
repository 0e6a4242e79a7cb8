"""Composing outgoing email at the moment it is queued, so every retry sends the same bytes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from adapters.blobs import BlobStore
from adapters.compose import (
    OutgoingMessage,
    compose,
    forward_subject,
    make_message_id,
    reply_subject,
)
from adapters.mime import Address, Attachment, parse_address, parse_address_list
from domain.ids import message_record_id
from domain.interaction import Interaction
from domain.messages import MessageInfo


def _summary(text: str, limit: int = 200) -> str:
    return " ".join(text.split())[:limit]


def _store(blobs: BlobStore, company_id: UUID, message: OutgoingMessage) -> MessageInfo:
    raw = compose(message)
    blob = blobs.put(raw)
    return MessageInfo(
        record_id=str(message_record_id(company_id, message.message_id)),
        rfc_message_id=message.message_id,
        direction="out",
        sender=message.sender.address,
        sender_name=message.sender.name,
        to=[a.address for a in message.to],
        cc=[a.address for a in message.cc],
        subject=message.subject,
        snippet=_summary(message.body_text),
        blob=blob,
        attachments=[],
    )


def _domain_of(address: str) -> str:
    return address.rpartition("@")[2]


def reply(
    blobs: BlobStore,
    interaction: Interaction,
    *,
    body_text: str,
    body_html: str | None,
    to: Sequence[str] | None,
    cc: Sequence[str] | None,
    reply_all: bool,
    at: datetime,
) -> MessageInfo:
    """A reply in the customer's thread: our Message-ID, In-Reply-To, References, `[#REF]`."""
    ours = interaction.mailbox
    recipients = parse_address_list(to) if to else (parse_address(interaction.customer),)
    copies = parse_address_list(cc) if cc else ()
    if reply_all and not cc:
        copies = tuple(
            Address(a)
            for a in interaction.participants
            if a not in {r.address for r in recipients} and a != ours
        )
    message = OutgoingMessage(
        sender=Address(ours),
        to=recipients,
        cc=copies,
        subject=reply_subject(interaction.subject, interaction.short_ref),
        body_text=body_text,
        body_html=body_html,
        date=at,
        message_id=make_message_id(f"{interaction.id}/{interaction.version}", _domain_of(ours)),
        in_reply_to=interaction.message_ids[-1],
        references=tuple(interaction.message_ids[-20:]),
    )
    return _store(blobs, interaction.company_id, message)


def forward(
    blobs: BlobStore,
    interaction: Interaction,
    original: bytes,
    *,
    to: Sequence[str],
    cc: Sequence[str],
    body_text: str,
    body_html: str | None,
    at: datetime,
) -> MessageInfo:
    """A forward to a third party, with the customer's last email attached as it arrived."""
    ours = interaction.mailbox
    message = OutgoingMessage(
        sender=Address(ours),
        to=parse_address_list(to),
        cc=parse_address_list(cc),
        subject=forward_subject(interaction.subject, interaction.short_ref),
        body_text=body_text or "Forwarded message attached.",
        body_html=body_html,
        date=at,
        message_id=make_message_id(f"{interaction.id}/{interaction.version}/fwd", _domain_of(ours)),
        attachments=(Attachment("original.eml", "message/rfc822", original),),
    )
    return _store(blobs, interaction.company_id, message)


def new_email(
    blobs: BlobStore,
    company_id: UUID,
    interaction_id: UUID,
    *,
    mailbox: str,
    to: Sequence[str],
    cc: Sequence[str],
    subject: str,
    body_text: str,
    body_html: str | None,
    short_ref: str,
    at: datetime,
) -> MessageInfo:
    message = OutgoingMessage(
        sender=Address(mailbox),
        to=parse_address_list(to),
        cc=parse_address_list(cc),
        subject=f"{subject} [#{short_ref}]",
        body_text=body_text,
        body_html=body_html,
        date=at,
        message_id=make_message_id(f"{interaction_id}/start", _domain_of(mailbox)),
    )
    return _store(blobs, company_id, message)
