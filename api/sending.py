"""An agent's reply or forward: from the request to the queued email, in one command."""

from __future__ import annotations

from uuid import UUID

from adapters.blobs import BlobNotFound
from adapters.mime import ParsedMessage, parse_message
from api import outgoing
from api.bootstrap import Services
from api.schemas.interactions import ForwardIn, ReplyIn, ThenIn
from domain.actors import Actor
from domain.application import Saved
from domain.application.outbox import FollowUp
from domain.errors import MessageNotFound, UnparseableMessage
from domain.interaction import Interaction


def follow_up(then: ThenIn | None) -> FollowUp:
    if then is None:
        return FollowUp()
    return FollowUp(close=then.close, substatus=then.substatus)


def last_inbound(services: Services, interaction: Interaction) -> tuple[bytes, ParsedMessage]:
    """The customer's latest email, raw and parsed (for Reply-To, Cc and forwarding)."""
    record = services.app.last_inbound_record(interaction)
    try:
        raw = services.blobs.get(record.blob)
    except BlobNotFound:
        raise MessageNotFound(f"the bytes of message {record.id} are missing") from None
    return raw, parse_message(raw)


def reply(services: Services, scope: UUID, interaction_id: UUID, body: ReplyIn, by: Actor) -> Saved:
    now = services.clock()
    interaction = services.app.interaction(interaction_id, scope)
    company = services.app.company(scope)
    files = outgoing.decode_attachments(body.attachments)
    try:
        answering: ParsedMessage | None = last_inbound(services, interaction)[1]
    except (MessageNotFound, UnparseableMessage):
        answering = None  # an email we started, or bytes we cannot read: fall back to the thread
    message = outgoing.reply(
        services.blobs,
        interaction,
        sender=outgoing.sender_of(company, interaction.mailbox),
        answering=answering,
        own=outgoing.own_addresses(company),
        body_text=body.body_text,
        body_html=body.body_html,
        to=body.to,
        cc=body.cc,
        reply_all=body.reply_all,
        attachments=files,
        at=now,
    )
    return services.app.send_reply(
        interaction_id,
        message,
        forward=False,
        then=follow_up(body.then),
        scope=scope,
        by=by,
        at=now,
    )


def forward(
    services: Services, scope: UUID, interaction_id: UUID, body: ForwardIn, by: Actor
) -> Saved:
    now = services.clock()
    interaction = services.app.interaction(interaction_id, scope)
    company = services.app.company(scope)
    files = outgoing.decode_attachments(body.attachments)
    raw, parsed = last_inbound(services, interaction)
    message = outgoing.forward(
        services.blobs,
        interaction,
        raw,
        sender=outgoing.sender_of(company, interaction.mailbox),
        to=body.to,
        cc=body.cc,
        body_text=body.body_text,
        body_html=body.body_html,
        inline=parsed if body.inline else None,
        attachments=files,
        at=now,
    )
    return services.app.send_reply(
        interaction_id,
        message,
        forward=True,
        then=follow_up(body.then),
        scope=scope,
        by=by,
        at=now,
    )
