"""Queries: the interaction's detail, timeline and thread, queue waiting lists.

Lists of interactions are in `api.routes.lists`.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query

from api.access import company_of, visible_interaction, visible_queue
from api.deps import CurrentUser, ServicesDep, await_position
from api.presenters import interaction_out
from api.schemas.interactions import InteractionOut
from api.thread import readable, readable_timeline, stored_bodies, thread
from domain.interaction import Interaction

router = APIRouter(prefix="/v1", tags=["queries"])
__all__ = ["company_of", "router"]  # `company_of` is imported from here by other routes


@router.get("/interactions/{interaction_id}")
def get_interaction(
    interaction_id: UUID, user: CurrentUser, services: ServicesDep
) -> InteractionOut:
    """The interaction as it is now, read from its own events."""
    interaction = visible_interaction(services, user, interaction_id)
    handling = interaction.handling_ms_at(services.clock())
    return interaction_out(interaction, 0, user, handling)


@router.get("/interactions/{interaction_id}/timeline")
def timeline(
    interaction_id: UUID, user: CurrentUser, services: ServicesDep, min_position: int = 0
) -> dict[str, Any]:
    """Every event of the interaction, in order, with when, who, what and why."""
    visible_interaction(services, user, interaction_id)
    await_position(services, min_position)
    entries = services.read.timeline.entries(interaction_id)
    return {
        "interaction_id": str(interaction_id),
        "entries": readable_timeline(entries, user.role, user.actor.user_id),
    }


@router.get("/interactions/{interaction_id}/messages")
def messages(interaction_id: UUID, user: CurrentUser, services: ServicesDep) -> dict[str, Any]:
    """The thread: customer and agent emails and internal notes, oldest first."""
    interaction: Interaction = visible_interaction(services, user, interaction_id)
    items = thread(services.app.events.get(interaction.id), stored_bodies(services.blobs))
    visible = readable(items, user.role, user.actor.user_id)
    return {"interaction_id": str(interaction_id), "items": visible}


@router.get("/queues/{queue_id}/waiting")
def waiting(
    queue_id: UUID,
    user: CurrentUser,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    min_position: int = 0,
) -> dict[str, Any]:
    """Interactions waiting in a queue, oldest first."""
    visible_queue(services, user, queue_id)
    await_position(services, min_position)
    return {
        "queue_id": str(queue_id),
        "items": services.read.queue_waiting.items(queue_id, limit=limit),
    }
