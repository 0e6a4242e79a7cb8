"""Queries: the interaction's detail, timeline and thread, lists, queue waiting lists."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query

from adapters.blobs import BlobNotFound
from adapters.mime import parse_message
from api.auth import Principal
from api.deps import CurrentUser, ServicesDep, await_position
from api.presenters import interaction_out
from api.schemas.interactions import InteractionOut
from domain.errors import InteractionNotFound, QueueNotFound, UnparseableMessage
from domain.interaction import Interaction

router = APIRouter(prefix="/v1", tags=["queries"])
MESSAGE_EVENTS = {
    "Received",
    "Started",
    "MessageReceived",
    "ReplyQueued",
    "ForwardQueued",
    "AutoReplyQueued",
    "BounceReceived",
}


def company_of(user: Principal) -> UUID:
    if user.company_id is None:
        raise InteractionNotFound("the operator reads no mail")
    return user.company_id


@router.get("/interactions/{interaction_id}")
def get_interaction(
    interaction_id: UUID, user: CurrentUser, services: ServicesDep
) -> InteractionOut:
    """The interaction as it is now, read from its own events."""
    interaction = services.app.interaction(interaction_id, company_of(user))
    handling = interaction.handling_ms_at(services.clock())
    return interaction_out(interaction, 0, user, handling)


@router.get("/interactions/{interaction_id}/timeline")
def timeline(
    interaction_id: UUID, user: CurrentUser, services: ServicesDep, min_position: int = 0
) -> dict[str, Any]:
    """Every event of the interaction, in order, with when, who, what and why."""
    services.app.interaction(interaction_id, company_of(user))
    await_position(services, min_position)
    return {
        "interaction_id": str(interaction_id),
        "entries": services.read.timeline.entries(interaction_id),
    }


def _body_of(services: Any, blob: str) -> str:
    try:
        return parse_message(services.blobs.get(blob)).text
    except (BlobNotFound, UnparseableMessage):
        return ""


@router.get("/interactions/{interaction_id}/messages")
def messages(interaction_id: UUID, user: CurrentUser, services: ServicesDep) -> dict[str, Any]:
    """The thread: customer and agent emails and internal notes, oldest first."""
    interaction: Interaction = services.app.interaction(interaction_id, company_of(user))
    items: list[dict[str, Any]] = []
    events: list[Any] = list(services.app.events.get(interaction.id))
    for event in events:
        kind = type(event).__name__
        if kind in MESSAGE_EVENTS:
            message = dict(event.message)
            items.append(
                {
                    "kind": "email",
                    "at": event.timestamp.isoformat(),
                    **message,
                    "id": message["record_id"],
                    "body_text": _body_of(services, message["blob"]),
                }
            )
        elif kind == "NoteAdded":
            items.append(
                {
                    "kind": "note",
                    "at": event.timestamp.isoformat(),
                    "id": str(event.note_id),
                    "author": event.actor,
                    "text": event.text,
                }
            )
    return {"interaction_id": str(interaction_id), "items": items}


@router.get("/interactions")
def search(
    user: CurrentUser,
    services: ServicesDep,
    status: Literal["queued", "offered", "active", "parked", "closed"] | None = None,
    queue: UUID | None = None,
    agent: UUID | None = None,
    tag: Annotated[str | None, Query(max_length=50)] = None,
    unread: bool | None = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    since: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    min_position: int = 0,
) -> dict[str, Any]:
    """Interactions of the caller's company, filtered, newest activity first, by cursor."""
    await_position(services, min_position)
    rows, next_cursor = services.read.search.search(
        company_of(user),
        status=status,
        queue_id=queue,
        agent_id=agent,
        tag=tag,
        unread=unread,
        text=q,
        since=since,
        limit=limit,
        cursor=cursor,
        visible_queue_ids=user.visible_queue_ids,
    )
    return {"items": rows, "next_cursor": next_cursor}


@router.get("/queues/{queue_id}/waiting")
def waiting(
    queue_id: UUID,
    user: CurrentUser,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    min_position: int = 0,
) -> dict[str, Any]:
    """Interactions waiting in a queue, oldest first."""
    queue = services.app.queue(queue_id, company_of(user))
    if user.visible_queue_ids is not None and queue.id not in user.visible_queue_ids:
        raise QueueNotFound(f"no queue {queue_id}")
    await_position(services, min_position)
    return {
        "queue_id": str(queue_id),
        "items": services.read.queue_waiting.items(queue_id, limit=limit),
    }
