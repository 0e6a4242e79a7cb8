"""A company's distribution settings, and who in a queue is available for work."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter

from api.deps import CurrentUser, ServicesDep, await_position
from api.distribution import DistributionDep
from api.schemas.distribution import AvailabilityOut, DistributionIn, DistributionOut
from api.workers.dispatch_cycle import with_presence
from domain.distribution import DistributionSettings
from domain.errors import QueueNotFound

router = APIRouter(prefix="/v1", tags=["distribution"])


def settings_out(
    company_id: UUID, settings: DistributionSettings, position: int
) -> DistributionOut:
    return DistributionOut(company_id=company_id, position=position, **settings.payload())


@router.get("/companies/{company_id}/distribution")
def get_distribution(company_id: UUID, user: CurrentUser, services: ServicesDep) -> DistributionOut:
    """Offer timeout, sticky window, capacity rule, parking limit, inactivity period."""
    scope = user.scope(company_id, "admin", "supervisor")
    return settings_out(scope, services.app.company(scope).distribution, 0)


@router.put("/companies/{company_id}/distribution")
def set_distribution(
    company_id: UUID, body: DistributionIn, user: CurrentUser, services: ServicesDep
) -> DistributionOut:
    """Replace the company's distribution settings."""
    scope = user.scope(company_id, "admin")
    saved = services.app.set_distribution(
        scope, DistributionSettings(**body.model_dump()), by=user.actor, at=services.clock()
    )
    return settings_out(scope, saved.aggregate.distribution, saved.position)


@router.get("/queues/{queue_id}/agents")
def availability(
    queue_id: UUID,
    user: CurrentUser,
    services: ServicesDep,
    distribution: DistributionDep,
    min_position: int = 0,
) -> dict[str, Any]:
    """The queue's members: logged in, present, paused, on a call, load, idle since."""
    if user.company_id is None:
        raise QueueNotFound(f"no queue {queue_id}")
    queue = services.app.queue(queue_id, user.company_id)
    user.require("admin", "supervisor")
    await_position(services, min_position)
    agents = with_presence(
        distribution.board.agents_of_queue(queue.id), distribution.presence, services.clock()
    )
    items = [
        AvailabilityOut(
            agent_id=agent.agent_id,
            logged_in=agent.state.logged_in,
            present=agent.state.logged_in and agent.state.present,
            paused=agent.state.paused,
            on_call=agent.state.on_call,
            held=agent.state.held,
            parked=agent.state.parked,
            capacity=agent.state.capacity,
            idle_since=agent.state.idle_since,
            offer_pending=agent.state.offer_pending,
        ).model_dump(mode="json")
        for agent in agents.values()
    ]
    return {"queue_id": str(queue_id), "items": items}
