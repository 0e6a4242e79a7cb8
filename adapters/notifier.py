"""Notifications to agents' and supervisors' event streams: Redis pub/sub, or in-process.

A note goes to channels named after its company (`inboxflow:<company>:agent:<id>`,
`inboxflow:<company>:queue:<id>`), and a subscription drops anything whose company is not its
own, so one company's events never reach another company's stream. Publishing is synchronous
(workers are threads); subscribing is asynchronous (server-sent events).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from uuid import UUID

import redis
import redis.asyncio

PREFIX = "inboxflow"
BACKLOG = 1000  # messages a slow in-process subscriber may fall behind before losing some


@dataclass(frozen=True)
class Note:
    """One thing to tell: to some agents, and to the queue's supervisors."""

    company_id: UUID
    type: str
    position: int
    agent_ids: tuple[UUID, ...] = ()
    queue_id: UUID | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def message(self) -> dict[str, Any]:
        queue = None if self.queue_id is None else str(self.queue_id)
        return {
            **self.data,
            "type": self.type,
            "company_id": str(self.company_id),
            "queue_id": queue,
            "position": self.position,
        }

    def channels(self) -> list[str]:
        named = [agent_channel(self.company_id, agent_id) for agent_id in self.agent_ids]
        if self.queue_id is not None:
            named.append(queue_channel(self.company_id, self.queue_id))
        return named


def agent_channel(company_id: UUID, agent_id: UUID) -> str:
    return f"{PREFIX}:{company_id}:agent:{agent_id}"


def queue_channel(company_id: UUID, queue_id: UUID) -> str:
    return f"{PREFIX}:{company_id}:queue:{queue_id}"


class Subscription(Protocol):
    async def next(self, timeout: float) -> dict[str, Any] | None:
        """The next message for this company, or None after `timeout` seconds."""


class Notifier(Protocol):
    def publish(self, notes: Sequence[Note]) -> None: ...

    def subscribe(
        self, company_id: UUID, channels: Sequence[str]
    ) -> contextlib.AbstractAsyncContextManager[Subscription]: ...

    def close(self) -> None: ...


def _own(company_id: UUID, raw: str | bytes) -> dict[str, Any] | None:
    message: dict[str, Any] = json.loads(raw)
    return message if message.get("company_id") == str(company_id) else None


class _QueueSubscription:
    def __init__(self, company_id: UUID) -> None:
        self.company_id = company_id
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[str] = asyncio.Queue(BACKLOG)

    def deliver(self, raw: str) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(raw)

    async def next(self, timeout: float) -> dict[str, Any] | None:
        deadline = self.loop.time() + timeout
        while (remaining := deadline - self.loop.time()) > 0:
            try:
                raw = await asyncio.wait_for(self.queue.get(), remaining)
            except TimeoutError:
                return None
            if (message := _own(self.company_id, raw)) is not None:
                return message
        return None


class MemoryNotifier:
    """The embedded default: subscribers in this process only."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: dict[str, set[_QueueSubscription]] = defaultdict(set)

    def publish(self, notes: Sequence[Note]) -> None:
        for note in notes:
            raw = json.dumps(note.message())
            with self._lock:
                targets = {s for c in note.channels() for s in self._subscribers.get(c, ())}
            for subscription in targets:
                with contextlib.suppress(RuntimeError):  # its event loop has closed
                    subscription.loop.call_soon_threadsafe(subscription.deliver, raw)

    @contextlib.asynccontextmanager
    async def subscribe(
        self, company_id: UUID, channels: Sequence[str]
    ) -> AsyncIterator[Subscription]:
        subscription = _QueueSubscription(company_id)
        with self._lock:
            for channel in channels:
                self._subscribers[channel].add(subscription)
        try:
            yield subscription
        finally:
            with self._lock:
                for channel in channels:
                    self._subscribers[channel].discard(subscription)
                    if not self._subscribers[channel]:
                        del self._subscribers[channel]

    def close(self) -> None:
        with self._lock:
            self._subscribers.clear()


class _RedisSubscription:
    def __init__(self, company_id: UUID, pubsub: redis.asyncio.client.PubSub) -> None:
        self.company_id, self.pubsub = company_id, pubsub

    async def next(self, timeout: float) -> dict[str, Any] | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (remaining := deadline - loop.time()) > 0:
            message = await self.pubsub.get_message(
                ignore_subscribe_messages=True, timeout=remaining
            )
            if message is None or message.get("type") != "message":
                continue
            if (own := _own(self.company_id, message["data"])) is not None:
                return own
        return None


class RedisNotifier:
    """Any process publishes, any API process serves any agent's stream."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._client = redis.Redis.from_url(url)

    def publish(self, notes: Sequence[Note]) -> None:
        if not notes:
            return
        with self._client.pipeline(transaction=False) as pipe:
            for note in notes:
                raw = json.dumps(note.message())
                for channel in note.channels():
                    pipe.publish(channel, raw)
            pipe.execute()

    @contextlib.asynccontextmanager
    async def subscribe(
        self, company_id: UUID, channels: Sequence[str]
    ) -> AsyncIterator[Subscription]:
        client = redis.asyncio.Redis.from_url(self.url)
        pubsub = client.pubsub()
        try:
            await pubsub.subscribe(*channels)
            yield _RedisSubscription(company_id, pubsub)
        finally:
            with contextlib.suppress(redis.RedisError, RuntimeError):
                await pubsub.aclose()  # type: ignore[no-untyped-call]
            with contextlib.suppress(redis.RedisError, RuntimeError):
                await client.aclose()

    def close(self) -> None:
        self._client.close()
