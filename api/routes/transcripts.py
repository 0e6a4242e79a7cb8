"""Transcript export of an interaction: JSON, plain text, PDF, or a zip of the PDF and every
attachment. Read exactly like the interaction itself: another company's, or one in a queue
the caller's access profile hides (and not theirs), answers 404."""

from __future__ import annotations

import io
import re
import unicodedata
import zipfile
from functools import cache
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Response

from adapters.blobs import BlobNotFound
from adapters.transcript_pdf import render_pdf
from api import transcript
from api.access import visible_interaction
from api.auth import Principal
from api.bootstrap import Services
from api.deps import CurrentUser, ServicesDep
from api.routes.attachments import content_disposition
from api.thread import stored_bodies
from domain.errors import AgentNotFound, QueueNotFound
from domain.interaction import Interaction

router = APIRouter(prefix="/v1/interactions", tags=["transcripts"])
MEDIA_TYPES = {
    "json": "application/json",
    "text": "text/plain; charset=utf-8",
    "pdf": "application/pdf",
}
EXTENSIONS = {"json": "json", "text": "txt", "pdf": "pdf"}
_UNSAFE_IN_NAME = re.compile(r'[\\/:*?"<>|]|^[.\s]+|[.\s]+$')


def readable_interaction(services: Services, user: Principal, interaction_id: UUID) -> Interaction:
    """The interaction, if this caller may read it; NotFound otherwise, never 403."""
    return visible_interaction(services, user, interaction_id)


def names_in(services: Services, scope: UUID) -> transcript.Names:
    @cache
    def user(user_id: UUID) -> str | None:
        try:
            return services.app.agent(user_id, scope).name
        except AgentNotFound:
            return None

    @cache
    def queue(queue_id: UUID) -> str | None:
        try:
            return services.app.queue(queue_id, scope).name
        except QueueNotFound:
            return None

    return transcript.Names(user, queue)


def transcript_of(services: Services, user: Principal, interaction_id: UUID) -> dict[str, Any]:
    interaction = readable_interaction(services, user, interaction_id)
    return transcript.build(
        interaction,
        services.app.events.get(interaction.id),
        stored_bodies(services.blobs),
        names_in(services, interaction.company_id),
        transcript.Reader(user.role, user.actor.user_id),
        services.clock(),
    )


def pdf_of(data: dict[str, Any]) -> bytes:
    ref = data["interaction"]["short_ref"]
    return render_pdf(
        transcript.title(data),
        transcript.sections(data),
        footer=f"[#{ref}] exported {data['generated_at']}",
    )


def download(content: bytes, media_type: str, filename: str) -> Response:
    return Response(
        content,
        media_type=media_type,
        headers={
            "Content-Disposition": content_disposition(filename),
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        },
    )


@router.get(
    "/{interaction_id}/transcript",
    response_class=Response,
    responses={200: {"content": {media: {} for media in MEDIA_TYPES.values()}}},
)
def export_transcript(
    interaction_id: UUID,
    user: CurrentUser,
    services: ServicesDep,
    format: Annotated[Literal["json", "text", "pdf"], Query()] = "json",
) -> Response:
    """The interaction's transcript: header, every email and note, key lifecycle events."""
    data = transcript_of(services, user, interaction_id)
    if format == "json":
        content = transcript.render_json(data)
    elif format == "text":
        content = transcript.render_text(data).encode()
    else:
        content = pdf_of(data)
    name = f"transcript-{data['interaction']['short_ref']}.{EXTENSIONS[format]}"
    return download(content, MEDIA_TYPES[format], name)


@router.get(
    "/{interaction_id}/transcript.zip",
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}}},
)
def export_transcript_zip(
    interaction_id: UUID, user: CurrentUser, services: ServicesDep
) -> Response:
    """The PDF transcript and every attachment of every email, in one zip."""
    data = transcript_of(services, user, interaction_id)
    name = f"transcript-{data['interaction']['short_ref']}"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{name}/{name}.pdf", pdf_of(data))
        taken: set[str] = set()
        missing = []
        for entry in data["entries"]:
            for attachment in entry.get("attachments", ()):
                filename = unique_name(safe_name(attachment["filename"]), taken)
                try:
                    content = services.blobs.get(attachment["blob"])
                except BlobNotFound:
                    missing.append(filename)
                    continue
                archive.writestr(f"{name}/attachments/{filename}", content)
        if missing:
            archive.writestr(f"{name}/missing-attachments.txt", "\n".join(missing) + "\n")
    return download(buffer.getvalue(), "application/zip", f"{name}.zip")


def safe_name(filename: str) -> str:
    """A file name without directories, reserved or control characters, or odd spaces."""
    name = unicodedata.normalize("NFC", filename)
    name = "".join(c for c in name if not unicodedata.category(c).startswith("C"))
    name = " ".join(name.split("/")[-1].split("\\")[-1].split())[-120:]  # one plain space
    return _UNSAFE_IN_NAME.sub("_", name) or "attachment"


def unique_name(name: str, taken: set[str]) -> str:
    """`name`, or `stem (2).ext`, `stem (3).ext`... when a name is taken (ignoring case)."""
    stem, dot, extension = name.rpartition(".") if "." in name[1:] else (name, "", "")
    candidate, number = name, 1
    while candidate.casefold() in taken:
        number += 1
        candidate = f"{stem} ({number}){dot}{extension}"
    taken.add(candidate.casefold())
    return candidate
