"""Agents' presence: a heartbeat that expires (Redis key with a TTL, or in-process).

The agent's event stream beats while it is connected; logging in counts as a beat (see
`Dispatcher`). Presence is never the source of truth for anything but "is the agent's client
still there": when it lapses, the dispatcher logs the agent out with an event.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Protocol
from uuid import UUID

import redis

PREFIX = "inboxflow:presence"


class Presence(Protocol):
    ttl: float

    def beat(self, company_id: UUID, agent_id: UUID) -> None:
        """The agent's client is there; good for `ttl` seconds."""

    def present(self, agent_ids: Sequence[UUID]) -> set[UUID]:
        """Those of `agent_ids` whose last beat has not expired."""

    def forget(self, agent_id: UUID) -> None: ...

    def close(self) -> None: ...


class MemoryPresence:
    """The embedded default: beats kept in this process."""

    def __init__(self, ttl: float = 30.0, now: Callable[[], float] = time.monotonic) -> None:
        self.ttl, self._now = ttl, now
        self._expires: dict[UUID, float] = {}
        self._lock = threading.Lock()

    def beat(self, company_id: UUID, agent_id: UUID) -> None:
        with self._lock:
            self._expires[agent_id] = self._now() + self.ttl

    def present(self, agent_ids: Sequence[UUID]) -> set[UUID]:
        now = self._now()
        with self._lock:
            return {a for a in agent_ids if self._expires.get(a, 0.0) > now}

    def forget(self, agent_id: UUID) -> None:
        with self._lock:
            self._expires.pop(agent_id, None)

    def close(self) -> None:
        pass


class RedisPresence:
    """One key per agent with a TTL: shared by every API process and worker."""

    def __init__(self, url: str, ttl: float = 30.0) -> None:
        self.ttl = ttl
        self._client = redis.Redis.from_url(url)

    @staticmethod
    def key(agent_id: UUID) -> str:
        return f"{PREFIX}:{agent_id}"

    def beat(self, company_id: UUID, agent_id: UUID) -> None:
        self._client.set(self.key(agent_id), str(company_id), px=max(1, round(self.ttl * 1000)))

    def present(self, agent_ids: Sequence[UUID]) -> set[UUID]:
        if not agent_ids:
            return set()
        values = self._client.mget([self.key(a) for a in agent_ids])
        return {a for a, value in zip(agent_ids, values, strict=True) if value is not None}

    def forget(self, agent_id: UUID) -> None:
        self._client.delete(self.key(agent_id))

    def close(self) -> None:
        self._client.close()
