"""Quarantined input of a company: listed, downloaded and retried by its admins."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse

from adapters.blobs import BlobNotFound
from adapters.inbound import prepare
from adapters.mime import ParseLimits
from api.deps import CurrentUser, ServicesDep, await_position
from api.schemas.interactions import InboundOut
from api.schemas.quarantine import QuarantineListOut
from domain.errors import MessageNotFound, UnparseableMessage

router = APIRouter(prefix="/v1/companies/{company_id}/quarantine", tags=["quarantine"])
RFC822 = "message/rfc822"


@router.get("")
def list_quarantined(
    company_id: UUID,
    user: CurrentUser,
    services: ServicesDep,
    released: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
    min_position: int = 0,
) -> QuarantineListOut:
    """The company's quarantined messages, newest first; `released=false` for the open ones."""
    scope = user.scope(company_id, "admin")
    await_position(services, min_position)
    items = services.read.quarantine.items(scope, released=released, limit=limit, offset=offset)
    return QuarantineListOut.model_validate({"items": items})


def _raw(services: ServicesDep, blob: str, quarantine_id: UUID) -> bytes:
    try:
        return services.blobs.get(blob)
    except BlobNotFound:
        raise MessageNotFound(
            f"the bytes of quarantined message {quarantine_id} are missing"
        ) from None


@router.get(
    "/{quarantine_id}/raw", response_class=Response, responses={200: {"content": {RFC822: {}}}}
)
def raw_quarantined(
    company_id: UUID, quarantine_id: UUID, user: CurrentUser, services: ServicesDep
) -> Response:
    """The quarantined bytes exactly as they arrived."""
    record = services.app.quarantined(quarantine_id, user.scope(company_id, "admin"))
    return Response(
        _raw(services, record.blob, quarantine_id),
        media_type=RFC822,
        headers={"Content-Disposition": f'attachment; filename="{quarantine_id}.eml"'},
    )


@router.post("/{quarantine_id}/retry", status_code=201, responses={200: {"model": InboundOut}})
def retry_quarantined(
    company_id: UUID, quarantine_id: UUID, user: CurrentUser, services: ServicesDep
) -> JSONResponse:
    """Run the inbound path again on the stored bytes (after a fix, or a higher limit): the
    record is released with the interaction the message went to."""
    scope = user.scope(company_id, "admin")
    record = services.app.quarantined(quarantine_id, scope)
    limits = ParseLimits(max_bytes=services.settings.max_message_bytes)
    prepared = prepare(_raw(services, record.blob, quarantine_id), services.blobs, limits)
    if prepared.email is None:
        raise UnparseableMessage(f"still not parseable: {prepared.problem}")
    delivery = services.app.retry_quarantined(
        quarantine_id,
        scope,
        prepared.email,
        by=user.actor,
        at=services.clock(),
        find_by_ref=services.read.search.find_by_short_ref,
    )
    body = InboundOut(
        interaction_id=delivery.interaction_id, outcome=delivery.outcome, position=delivery.position
    )
    status = 201 if delivery.outcome in ("created", "continued") else 200
    return JSONResponse(body.model_dump(mode="json"), status_code=status)
