"""Email entering and leaving: raw inbound messages, new outbound emails, raw downloads."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID, uuid4

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from adapters.blobs import BlobNotFound
from adapters.inbound import prepare
from adapters.mime import ParseLimits
from api import outgoing
from api.access import can_see, restricted
from api.deps import CurrentUser, ServicesDep
from api.problems import ApiProblem, problem
from api.routes.interactions import answer
from api.schemas.interactions import InboundOut, InteractionOut, OutboundIn
from domain.errors import MessageNotFound
from domain.ids import short_ref

router = APIRouter(prefix="/v1", tags=["mail"])
RFC822 = "message/rfc822"


async def _read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiProblem(413, "message-too-large", f"messages are at most {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiProblem(413, "message-too-large", f"messages are at most {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "/companies/{company_id}/inbound",
    status_code=201,
    responses={200: {"model": InboundOut}, 422: {}, 429: {}},
)
async def inbound(
    company_id: UUID,
    request: Request,
    user: CurrentUser,
    services: ServicesDep,
    recipient: Annotated[str | None, Query(max_length=320)] = None,
    content_type: Annotated[str | None, Header()] = None,
) -> Response:
    """Accept one raw RFC 5322 email: the same path IMAP ingestion takes."""
    scope = user.scope(company_id, "admin")
    if (content_type or "").split(";")[0].strip().lower() != RFC822:
        raise ApiProblem(415, "unsupported-media-type", f"send the raw email as {RFC822}")
    raw = await _read_limited(request, services.settings.max_message_bytes)
    return await run_in_threadpool(_record, services, scope, raw, recipient)


def _record(services: ServicesDep, company_id: UUID, raw: bytes, recipient: str | None) -> Response:
    now = services.clock()
    limits = ParseLimits(max_bytes=services.settings.max_message_bytes)
    prepared = prepare(raw, services.blobs, limits)
    if prepared.email is None:
        saved = services.app.quarantine(
            uuid4(), company_id, blob=prepared.blob, reason=prepared.problem, source="api", at=now
        )
        return problem(
            422, "unparseable-message", prepared.problem, quarantine_id=str(saved.aggregate.id)
        )
    delivery = services.app.receive_email(
        company_id,
        prepared.email,
        recipient=recipient,
        arrived_at=now,
        at=now,
        find_by_ref=services.read.search.find_by_short_ref,
    )
    body = InboundOut(
        interaction_id=delivery.interaction_id, outcome=delivery.outcome, position=delivery.position
    )
    status = 201 if delivery.outcome in ("created", "continued") else 200
    return JSONResponse(body.model_dump(mode="json"), status_code=status)


@router.post("/companies/{company_id}/outbound", status_code=201, responses={413: {}, 422: {}})
def outbound(
    company_id: UUID, body: OutboundIn, user: CurrentUser, services: ServicesDep
) -> InteractionOut:
    """An agent writes a new email: a new interaction, active and owned by its author."""
    scope = user.scope(company_id)
    company = services.app.company(scope)
    mailbox = company.mailboxes.get(str(body.mailbox_id))
    if mailbox is None:
        raise MessageNotFound(f"no mailbox {body.mailbox_id}")
    interaction_id, now = uuid4(), services.clock()
    message = outgoing.new_email(
        services.blobs,
        scope,
        interaction_id,
        mailbox=mailbox["address"],
        to=body.to,
        cc=body.cc,
        subject=body.subject,
        body_text=body.body_text,
        body_html=body.body_html,
        short_ref=short_ref(interaction_id),
        at=now,
        sender_name=outgoing.sender_of(company, mailbox["address"]).name,
        attachments=outgoing.decode_attachments(body.attachments),
    )
    saved = services.app.start_outbound(
        interaction_id,
        scope,
        mailbox_id=body.mailbox_id,
        queue_id=body.queue_id,
        message=message,
        by=user.actor,
        at=now,
    )
    return answer(saved, user, services)


@router.get(
    "/messages/{message_id}/raw",
    response_class=Response,
    responses={200: {"content": {RFC822: {}}}},
)
def raw_message(message_id: UUID, user: CurrentUser, services: ServicesDep) -> Response:
    """The stored RFC 5322 bytes of one email, as received or as sent."""
    if user.company_id is None:
        raise MessageNotFound(f"no message {message_id}")
    record = services.app.message_record(message_id, user.company_id)
    if restricted(user) and not can_see(
        services, user, services.app.interaction(record.interaction_id, user.company_id)
    ):
        raise MessageNotFound(f"no message {message_id}")
    try:
        data = services.blobs.get(record.blob)
    except BlobNotFound:
        raise MessageNotFound(f"the bytes of message {message_id} are missing") from None
    return Response(data, media_type=RFC822)
