"""Attachments of an interaction's emails, downloaded from the blob store."""

from __future__ import annotations

import re
from typing import Annotated, Any
from urllib.parse import quote
from uuid import UUID

from fastapi import APIRouter, Path, Response

from adapters.blobs import BlobNotFound
from api.access import visible_interaction
from api.deps import CurrentUser, ServicesDep
from domain.errors import MessageNotFound

router = APIRouter(prefix="/v1/interactions", tags=["attachments"])
_MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*")
_UNSAFE_NAME = re.compile(r'[^A-Za-z0-9._ -]|"')
Digest = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$")]


def listed_attachment(events: list[Any], blob: str) -> dict[str, Any] | None:
    """The attachment with this hash on any email of the interaction, in or out."""
    for event in events:
        message = getattr(event, "message", None)
        if isinstance(message, dict):
            for attachment in message.get("attachments", ()):
                if attachment.get("blob") == blob:
                    return dict(attachment)
    return None


def content_disposition(filename: str) -> str:
    """`attachment`, with an ASCII fallback name and the real one in RFC 5987 form."""
    fallback = _UNSAFE_NAME.sub("_", filename)[:100] or "attachment"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


@router.get(
    "/{interaction_id}/attachments/{blob}",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def download_attachment(
    interaction_id: UUID, blob: Digest, user: CurrentUser, services: ServicesDep
) -> Response:
    """One attachment, by the hash the interaction lists, with its content type."""
    interaction = visible_interaction(services, user, interaction_id)
    attachment = listed_attachment(list(services.app.events.get(interaction.id)), blob)
    if attachment is None:
        raise MessageNotFound(f"interaction {interaction_id} has no attachment {blob}")
    try:
        data = services.blobs.get(blob)
    except BlobNotFound:
        raise MessageNotFound(f"the bytes of attachment {blob} are missing") from None
    media_type = str(attachment.get("content_type", "")).lower()
    return Response(
        data,
        media_type=media_type if _MEDIA_TYPE.fullmatch(media_type) else "application/octet-stream",
        headers={
            "Content-Disposition": content_disposition(str(attachment.get("filename") or "")),
            "X-Content-Type-Options": "nosniff",
        },
    )
