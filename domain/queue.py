"""Queue: where routed email waits for an agent. Membership lives on the agent."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import InvalidInput, QueueClosed


def _check_name(name: str) -> str:
    if not 1 <= len(name.strip()) <= 100:
        raise InvalidInput("queue names are 1-100 characters")
    return name.strip()


def _check_priority(priority: int) -> int:
    if not 0 <= priority <= 100:
        raise InvalidInput(f"queue priority is 0-100, not {priority}")
    return priority


class Queue(Aggregate):
    """A company's queue of waiting email; higher priority is served first."""

    class Created(Aggregate.Created):
        company_id: UUID
        name: str
        priority: int
        actor: str

    class Renamed(Aggregate.Event):
        name: str
        actor: str

    class PrioritySet(Aggregate.Event):
        priority: int
        actor: str

    class Closed(Aggregate.Event):
        actor: str

    @event(Created)
    def __init__(
        self,
        *,
        id: UUID,
        company_id: UUID,
        name: str,
        priority: int,
        actor: str,
        timestamp: datetime,
    ) -> None:
        self.company_id, self.name, self.priority = company_id, name, priority
        self.is_closed = False

    @classmethod
    def create(
        cls,
        queue_id: UUID,
        company_id: UUID,
        name: str,
        priority: int,
        *,
        actor: str,
        at: datetime,
    ) -> Queue:
        return cls(
            id=queue_id,
            company_id=company_id,
            name=_check_name(name),
            priority=_check_priority(priority),
            actor=actor,
            timestamp=at,
        )

    def rename(self, name: str, *, actor: str, at: datetime) -> None:
        self._require_open()
        self._renamed(name=_check_name(name), actor=actor, timestamp=at)

    @event(Renamed)
    def _renamed(self, name: str, actor: str, timestamp: datetime) -> None:
        self.name = name

    def set_priority(self, priority: int, *, actor: str, at: datetime) -> None:
        self._require_open()
        self._priority_set(priority=_check_priority(priority), actor=actor, timestamp=at)

    @event(PrioritySet)
    def _priority_set(self, priority: int, actor: str, timestamp: datetime) -> None:
        self.priority = priority

    def close(self, *, actor: str, at: datetime) -> None:
        self._require_open()
        self._closed(actor=actor, timestamp=at)

    @event(Closed)
    def _closed(self, actor: str, timestamp: datetime) -> None:
        self.is_closed = True

    def _require_open(self) -> None:
        if self.is_closed:
            raise QueueClosed(f"queue {self.id} is closed")
