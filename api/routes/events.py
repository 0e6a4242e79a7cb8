"""Server-sent events: an agent's stream, and a supervisor's stream per queue.

Access profiles hold here too: a queue the caller may not see has no stream (404), and a
supervisor watching an agent's stream is told only about interactions in queues they see.

Each stream subscribes to its company's channel only (see `adapters.notifier`). An agent's own
stream keeps the agent present: it beats on connect and then every `heartbeat` seconds, so a
dropped connection lapses within the presence TTL and the dispatcher logs the agent out.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any
from uuid import UUID

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from adapters.notifier import agent_channel, queue_channel
from api.access import QueueFilter, every_queue, visible_queue
from api.deps import CurrentUser, ServicesDep
from api.distribution import Distribution, DistributionDep
from api.routes.agents import scope_for_agent, shown_to
from domain.errors import QueueNotFound

router = APIRouter(prefix="/v1", tags=["events"])
EVENT_STREAM = "text/event-stream"
HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
WAKE_EVERY = 1.0  # at most this long between looks at whether the server is closing


def sse(kind: str, data: dict[str, Any], event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


async def stream(
    distribution: Distribution,
    company_id: UUID,
    channel: str,
    ready: dict[str, Any],
    beat: Callable[[], None] | None,
    shows: QueueFilter = every_queue,
) -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    async with distribution.notifier.subscribe(company_id, [channel]) as subscription:
        if beat is not None:
            await run_in_threadpool(beat)
        yield sse("ready", ready)
        next_beat = loop.time() + distribution.heartbeat
        while not distribution.closing.is_set():
            wait = max(0.0, min(WAKE_EVERY, next_beat - loop.time()))
            message = await subscription.next(wait)
            if message is not None and shows(queue_of(message)):
                yield sse(message["type"], message, message.get("position"))
            if loop.time() >= next_beat:
                if beat is not None:
                    await run_in_threadpool(beat)
                yield ": keep-alive\n\n"
                next_beat = loop.time() + distribution.heartbeat


def queue_of(message: dict[str, Any]) -> UUID | None:
    queue_id = message.get("queue_id")
    return None if queue_id is None else UUID(queue_id)


@router.get("/agents/{agent_id}/events", response_class=StreamingResponse)
async def agent_events(
    agent_id: UUID,
    user: CurrentUser,
    services: ServicesDep,
    distribution: DistributionDep,
) -> StreamingResponse:
    """Offers, offers withdrawn or taken by another, new customer messages, transfers to them."""
    company_id = await run_in_threadpool(scope_for_agent, services, user, agent_id)
    agent = await run_in_threadpool(services.app.agent, agent_id, company_id)
    ready = {"company_id": str(company_id), "agent_id": str(agent_id), "logged_in": agent.logged_in}
    own = user.actor.user_id == agent_id  # a supervisor watching does not keep the agent present
    shows = await run_in_threadpool(shown_to, services, user, agent_id)

    def beat() -> None:
        distribution.presence.beat(company_id, agent_id)

    channel = agent_channel(company_id, agent_id)
    body = stream(distribution, company_id, channel, ready, beat if own else None, shows)
    return StreamingResponse(body, media_type=EVENT_STREAM, headers=HEADERS)


@router.get("/queues/{queue_id}/events", response_class=StreamingResponse)
async def queue_events(
    queue_id: UUID,
    user: CurrentUser,
    services: ServicesDep,
    distribution: DistributionDep,
) -> StreamingResponse:
    """A queue's stream for supervisors: waiting, offered, withdrawn, taken, closed."""
    if user.company_id is None:
        raise QueueNotFound(f"no queue {queue_id}")
    await run_in_threadpool(visible_queue, services, user, queue_id)
    user.require("admin", "supervisor")
    channel = queue_channel(user.company_id, queue_id)
    ready = {"company_id": str(user.company_id), "queue_id": str(queue_id)}
    body = stream(distribution, user.company_id, channel, ready, None)
    return StreamingResponse(body, media_type=EVENT_STREAM, headers=HEADERS)
