"""The dispatch board's people side: companies' settings, queues, agents and their workload.

Times are epoch milliseconds (BIGINT) so that deadlines are plain SQL arithmetic on both
backends. An agent's "idle since" is the later of `available_ms` and `offered_ms`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from domain.agent import Agent
from domain.company import Company
from domain.distribution import DistributionSettings
from domain.queue import Queue
from projections.base import Table, Tx, handles

PEOPLE_TABLES = (
    Table(
        "companies",
        "company_id TEXT NOT NULL, offer_timeout_ms BIGINT NOT NULL, sticky_ms BIGINT NOT NULL, "
        "parked_count INTEGER NOT NULL, max_parking_ms BIGINT, inactivity_ms BIGINT NOT NULL, "
        "disposition_timeout_ms BIGINT",
        "company_id",
    ),
    Table(
        "queues", "queue_id TEXT NOT NULL, company_id TEXT NOT NULL, priority INTEGER", "queue_id"
    ),
    Table(
        "agents",
        "agent_id TEXT NOT NULL, company_id TEXT NOT NULL, logged_in INTEGER NOT NULL, "
        "login_ms BIGINT NOT NULL, paused INTEGER NOT NULL, on_call INTEGER NOT NULL, "
        "capacity INTEGER NOT NULL, held INTEGER NOT NULL, parked INTEGER NOT NULL, "
        "available_ms BIGINT NOT NULL, offered_ms BIGINT NOT NULL, offer_id TEXT",
        "agent_id",
        ("company_id, logged_in", "offer_id"),
    ),
    Table("members", "agent_id TEXT NOT NULL, queue_id TEXT NOT NULL", "agent_id, queue_id"),
)


def ms(at: datetime) -> int:
    return round(at.timestamp() * 1000)


def _settings(settings: DistributionSettings) -> dict[str, Any]:
    parking = settings.max_parking_seconds
    return {
        "offer_timeout_ms": settings.offer_timeout_seconds * 1000,
        "sticky_ms": settings.sticky_window_seconds * 1000,
        "parked_count": settings.parked_count_toward_capacity,
        "max_parking_ms": None if parking is None else parking * 1000,
        "inactivity_ms": settings.inactivity_seconds * 1000,
    }


class PeopleSide:
    """Handlers of company, queue and agent events (mixed into `DispatchBoard`)."""

    @handles(Company.Created)
    def _company_created(self, tx: Tx, e: Company.Created, position: int) -> None:
        tx.insert("companies", company_id=e.originator_id, **_settings(DistributionSettings()))

    @handles(Company.DistributionSettingsSet)
    def _distribution_set(self, tx: Tx, e: Company.DistributionSettingsSet, position: int) -> None:
        settings = DistributionSettings(
            e.offer_timeout_seconds,
            e.sticky_window_seconds,
            e.parked_count_toward_capacity,
            e.max_parking_seconds,
            e.inactivity_seconds,
        )
        values = _settings(settings)
        assignments = ", ".join(f"{column} = ?" for column in values)
        tx.execute(
            f"UPDATE {{companies}} SET {assignments} WHERE company_id = ?",
            *values.values(),
            e.originator_id,
        )

    @handles(Company.DispositionsDefined)
    def _dispositions(self, tx: Tx, e: Company.DispositionsDefined, position: int) -> None:
        timeout = None if e.timeout_seconds is None else e.timeout_seconds * 1000
        tx.execute(
            "UPDATE {companies} SET disposition_timeout_ms = ? WHERE company_id = ?",
            timeout,
            e.originator_id,
        )

    @handles(Queue.Created)
    def _queue_created(self, tx: Tx, e: Queue.Created, position: int) -> None:
        tx.insert("queues", queue_id=e.originator_id, company_id=e.company_id, priority=e.priority)

    @handles(Queue.PrioritySet)
    def _priority_set(self, tx: Tx, e: Queue.PrioritySet, position: int) -> None:
        tx.execute(
            "UPDATE {queues} SET priority = ? WHERE queue_id = ?", e.priority, e.originator_id
        )

    @handles(Agent.Registered)
    def _registered(self, tx: Tx, e: Agent.Registered, position: int) -> None:
        at = ms(e.timestamp)
        tx.insert(
            "agents",
            agent_id=e.originator_id,
            company_id=e.company_id,
            logged_in=False,
            login_ms=at,
            paused=False,
            on_call=False,
            capacity=e.capacity,
            held=0,
            parked=0,
            available_ms=at,
            offered_ms=0,
        )
        for queue_id in e.queue_ids:
            tx.insert("members", agent_id=e.originator_id, queue_id=queue_id)

    @handles(Agent.JoinedQueue)
    def _joined(self, tx: Tx, e: Agent.JoinedQueue, position: int) -> None:
        tx.insert("members", agent_id=e.originator_id, queue_id=e.queue_id)

    @handles(Agent.LeftQueue)
    def _left(self, tx: Tx, e: Agent.LeftQueue, position: int) -> None:
        tx.execute(
            "DELETE FROM {members} WHERE agent_id = ? AND queue_id = ?", e.originator_id, e.queue_id
        )

    @handles(Agent.CapacitySet)
    def _capacity(self, tx: Tx, e: Agent.CapacitySet, position: int) -> None:
        self._agent(tx, e.originator_id, capacity=e.capacity)

    @handles(Agent.LoggedIn)
    def _logged_in(self, tx: Tx, e: Agent.LoggedIn, position: int) -> None:
        at = ms(e.timestamp)
        self._agent(tx, e.originator_id, logged_in=True, login_ms=at, available_ms=at)

    @handles(Agent.LoggedOut)
    def _logged_out(self, tx: Tx, e: Agent.LoggedOut, position: int) -> None:
        self._agent(tx, e.originator_id, logged_in=False, paused=False)

    @handles(Agent.Paused)
    def _paused(self, tx: Tx, e: Agent.Paused, position: int) -> None:
        self._agent(tx, e.originator_id, paused=True)

    @handles(Agent.Unpaused)
    def _unpaused(self, tx: Tx, e: Agent.Unpaused, position: int) -> None:
        self._agent(tx, e.originator_id, paused=False, available_ms=ms(e.timestamp))

    @handles(Agent.CallStarted)
    def _call_started(self, tx: Tx, e: Agent.CallStarted, position: int) -> None:
        self._agent(tx, e.originator_id, on_call=True)

    @handles(Agent.CallEnded)
    def _call_ended(self, tx: Tx, e: Agent.CallEnded, position: int) -> None:
        self._agent(tx, e.originator_id, on_call=False, available_ms=ms(e.timestamp))

    @handles(Agent.WorkloadChanged)
    def _workload(self, tx: Tx, e: Agent.WorkloadChanged, position: int) -> None:
        parked = len(e.held) - (1 if e.active is not None else 0)
        self._agent(tx, e.originator_id, held=len(e.held), parked=parked)

    @handles(Agent.OfferReceived)
    def _offer_received(self, tx: Tx, e: Agent.OfferReceived, position: int) -> None:
        self._agent(tx, e.originator_id, offer_id=e.interaction_id, offered_ms=ms(e.timestamp))

    def _agent(self, tx: Tx, agent_id: UUID, **values: Any) -> None:
        assignments = ", ".join(f"{column} = ?" for column in values)
        tx.execute(
            f"UPDATE {{agents}} SET {assignments} WHERE agent_id = ?", *values.values(), agent_id
        )
