"""Composing outgoing email at the moment it is queued, so every retry sends the same bytes.

Everything is validated by `compose` before a byte is stored: a malformed recipient or a header
that could inject refuses the command (422) and nothing is queued.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from adapters.blobs import BlobStore
from adapters.compose import (
    OutgoingMessage,
    compose,
    forward_subject,
    make_message_id,
    reply_subject,
)
from adapters.mime import (
    Address,
    Attachment,
    ParsedMessage,
    parse_address,
    parse_address_list,
    single_line,
    text_excerpt,
)
from api.problems import ApiProblem
from domain.company import Company
from domain.ids import message_record_id
from domain.interaction import Interaction
from domain.messages import AttachmentInfo, MessageInfo

MAX_ATTACHMENT_BYTES = 15 * 1024 * 1024
MAX_ATTACHMENTS_BYTES = 25 * 1024 * 1024  # all of one email's files: what servers take
AUTO_REPLY_HEADERS = (("Auto-Submitted", "auto-replied"), ("X-Auto-Response-Suppress", "All"))


class AttachmentPayload(Protocol):
    filename: str
    content_type: str
    content_base64: str


def decode_attachments(items: Sequence[AttachmentPayload]) -> tuple[Attachment, ...]:
    """Files from a request body; above 15 MB each → 413, undecodable → 422."""
    found = []
    for item in items:
        if len(item.content_base64) > (MAX_ATTACHMENT_BYTES + 2) // 3 * 4 + 4:
            raise _too_large(item.filename)
        try:
            content = base64.b64decode(item.content_base64, validate=True)
        except (binascii.Error, ValueError):
            raise ApiProblem(
                422, "invalid-attachment", f"{item.filename!r} is not base64"
            ) from None
        if len(content) > MAX_ATTACHMENT_BYTES:
            raise _too_large(item.filename)
        found.append(Attachment(item.filename, item.content_type, content))
    if sum(a.size for a in found) > MAX_ATTACHMENTS_BYTES:
        limit = MAX_ATTACHMENTS_BYTES // (1024 * 1024)
        raise ApiProblem(413, "attachments-too-large", f"an email carries at most {limit} MB")
    return tuple(found)


def _too_large(filename: str) -> ApiProblem:
    limit = MAX_ATTACHMENT_BYTES // (1024 * 1024)
    return ApiProblem(413, "attachment-too-large", f"{filename!r} is above {limit} MB")


def sender_of(company: Company, address: str) -> Address:
    """Our From: the mailbox's address with the display name of its SMTP settings."""
    mailbox: dict[str, Any] = company.mailbox_by_address(address) or {}
    smtp = (mailbox.get("settings") or {}).get("smtp") or {}
    return Address(address, single_line(str(smtp.get("from_name") or "")))


def own_addresses(company: Company) -> frozenset[str]:
    return frozenset(m["address"] for m in company.mailboxes.values())


def _summary(text: str, limit: int = 200) -> str:
    return " ".join(text.split())[:limit]


def _store(blobs: BlobStore, company_id: UUID, message: OutgoingMessage) -> MessageInfo:
    raw = compose(message)  # raises before anything is stored
    attachments = [
        AttachmentInfo(
            filename=a.filename,
            content_type=a.content_type,
            size=a.size,
            blob=blobs.put(a.content),
        )
        for a in message.attachments
    ]
    blob = blobs.put(raw)  # before the event, so a retry sends identical bytes
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
        text=text_excerpt(message.body_text),
        blob=blob,
        attachments=attachments,
    )


def _domain_of(address: str) -> str:
    return address.rpartition("@")[2]


def _mailboxes(people: Sequence[Address], *, without: set[str]) -> tuple[Address, ...]:
    """Carried-over addresses, once each, minus `without`; names flattened to one line."""
    found: dict[str, Address] = {}
    for person in people:
        address = person.address.casefold()
        if address not in without and address not in found:
            found[address] = Address(address, single_line(person.name))
    return tuple(found.values())


def reply_recipients(
    interaction: Interaction,
    answering: ParsedMessage | None,
    own: frozenset[str],
    *,
    reply_all: bool,
) -> tuple[tuple[Address, ...], tuple[Address, ...]]:
    """To from Reply-To, else From; reply-all carries To and Cc over, minus our addresses."""
    if answering is None:  # we wrote first: answer the people we wrote to
        people = [Address(a) for a in interaction.participants]
        to = _mailboxes(people[:1], without=set(own))
        return to, _mailboxes(people[1:], without=set(own)) if reply_all else ()
    to = _mailboxes(answering.reply_to or (answering.sender,), without=set(own))
    if not to:
        to = (parse_address(interaction.customer),)
    if not reply_all:
        return to, ()
    taken = set(own) | {a.address for a in to}
    return to, _mailboxes((*answering.to, *answering.cc), without=taken)


def reply(
    blobs: BlobStore,
    interaction: Interaction,
    *,
    sender: Address,
    answering: ParsedMessage | None,
    own: frozenset[str],
    body_text: str,
    body_html: str | None,
    to: Sequence[str] | None,
    cc: Sequence[str] | None,
    reply_all: bool,
    attachments: tuple[Attachment, ...] = (),
    at: datetime,
) -> MessageInfo:
    """A reply in the customer's thread: our Message-ID, In-Reply-To, References, `[#REF]`."""
    recipients, copies = reply_recipients(interaction, answering, own, reply_all=reply_all)
    if to:
        recipients = parse_address_list(to)
    if cc is not None:
        copies = parse_address_list(cc)
    message = OutgoingMessage(
        sender=sender,
        to=recipients,
        cc=copies,
        subject=reply_subject(interaction.subject, interaction.short_ref),
        body_text=body_text,
        body_html=body_html,
        date=at,
        message_id=make_message_id(
            f"{interaction.id}/{interaction.version}", _domain_of(sender.address)
        ),
        in_reply_to=interaction.message_ids[-1],
        references=tuple(interaction.message_ids[-20:]),
        attachments=attachments,
    )
    return _store(blobs, interaction.company_id, message)


def forward(
    blobs: BlobStore,
    interaction: Interaction,
    original: bytes,
    *,
    sender: Address,
    to: Sequence[str],
    cc: Sequence[str],
    body_text: str,
    body_html: str | None,
    inline: ParsedMessage | None = None,
    attachments: tuple[Attachment, ...] = (),
    at: datetime,
) -> MessageInfo:
    """A forward to a third party: the customer's last email attached as it arrived, or, with
    `inline`, quoted below the agent's text."""
    if inline is None:
        text = body_text or "Forwarded message attached."
        files = (Attachment("original.eml", "message/rfc822", original), *attachments)
    else:
        quoted = (
            "---------- Forwarded message ----------\n"
            f"From: {inline.sender.name} <{inline.sender.address}>\n"
            f"Subject: {inline.subject}\n\n{inline.text}"
        )
        text, files = f"{body_text}\n\n{quoted}".lstrip(), attachments
    message = OutgoingMessage(
        sender=sender,
        to=parse_address_list(to),
        cc=parse_address_list(cc),
        subject=forward_subject(interaction.subject, interaction.short_ref),
        body_text=text,
        body_html=body_html,
        date=at,
        message_id=make_message_id(
            f"{interaction.id}/{interaction.version}/fwd", _domain_of(sender.address)
        ),
        attachments=files,
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
    sender_name: str = "",
    attachments: tuple[Attachment, ...] = (),
) -> MessageInfo:
    message = OutgoingMessage(
        sender=Address(mailbox, sender_name),
        to=parse_address_list(to),
        cc=parse_address_list(cc),
        subject=f"{subject} [#{short_ref}]",
        body_text=body_text,
        body_html=body_html,
        date=at,
        message_id=make_message_id(f"{interaction_id}/start", _domain_of(mailbox)),
        attachments=attachments,
    )
    return _store(blobs, company_id, message)


def auto_reply(
    blobs: BlobStore,
    interaction: Interaction,
    *,
    sender: Address,
    to: str,
    subject: str,
    answering_id: str,
    answering_record: str,
    body_text: str,
    at: datetime,
) -> MessageInfo:
    """An RFC 3834 automatic answer; its Message-ID follows from the email it answers."""
    message = OutgoingMessage(
        sender=sender,
        to=(parse_address(to),),
        cc=(),
        subject=reply_subject(subject, interaction.short_ref),
        body_text=body_text,
        body_html=None,
        date=at,
        message_id=make_message_id(f"{answering_record}/auto-reply", _domain_of(sender.address)),
        in_reply_to=answering_id,
        references=(answering_id,),
        extra_headers=AUTO_REPLY_HEADERS,
    )
    return _store(blobs, interaction.company_id, message)
