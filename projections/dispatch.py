"""The dispatch board: what the dispatch worker decides from (DESIGN §3, Distribution).

Agents' availability, load and idle time, waiting email by queue priority and age, standing
offers, rejections in the current round, the last agent of each sender, and due timers. The
worker's commands check every decision again on the aggregates, so lag costs nothing but a retry.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

from domain.distribution import AgentState, DistributionSettings, LastHandler
from projections.base import Projection
from projections.dispatch_people import PEOPLE_TABLES, PeopleSide, ms
from projections.dispatch_work import WORK_TABLES, WorkSide

Timer = Literal["parked_ms", "reply_ms", "awaiting_ms"]
TIMER_LIMITS: dict[Timer, str] = {
    "parked_ms": "max_parking_ms",
    "reply_ms": "disposition_timeout_ms",
    "awaiting_ms": "inactivity_ms",
}


def at_ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, UTC)


@dataclass(frozen=True)
class BoardAgent:
    """A logged-in agent as the board sees them (presence comes from elsewhere)."""

    agent_id: UUID
    company_id: UUID
    login_ms: int
    state: AgentState


@dataclass(frozen=True)
class WaitingItem:
    interaction_id: UUID
    company_id: UUID
    queue_id: UUID
    priority: int
    arrived_ms: int
    customer: str
    rejected_by: tuple[UUID, ...]


class DispatchBoard(WorkSide, PeopleSide, Projection):
    """Read model of the dispatch worker and of the supervisors' availability list."""

    name = "dispatch"
    tables = (*PEOPLE_TABLES, *WORK_TABLES)

    def logged_in_agents(self) -> list[BoardAgent]:
        rows = self.view.select("SELECT * FROM {agents} WHERE logged_in = 1 ORDER BY agent_id")
        return self._agents(rows)

    def agents_of_queue(self, queue_id: UUID) -> list[BoardAgent]:
        rows = self.view.select(
            "SELECT a.* FROM {agents} a JOIN {members} m ON m.agent_id = a.agent_id "
            "WHERE m.queue_id = ? ORDER BY a.agent_id",
            queue_id,
        )
        return self._agents(rows)

    def _agents(self, rows: list[dict[str, Any]]) -> list[BoardAgent]:
        queues: dict[str, set[UUID]] = defaultdict(set)
        for chunk in _chunks([row["agent_id"] for row in rows]):
            for member in self.view.select(
                f"SELECT agent_id, queue_id FROM {{members}} WHERE agent_id IN ({_marks(chunk)})",
                *chunk,
            ):
                queues[member["agent_id"]].add(UUID(member["queue_id"]))
        return [_board_agent(row, frozenset(queues[row["agent_id"]])) for row in rows]

    def settings(self, company_ids: Iterable[UUID]) -> dict[UUID, DistributionSettings]:
        found: dict[UUID, DistributionSettings] = {}
        for chunk in _chunks(sorted(set(company_ids))):
            for row in self.view.select(
                f"SELECT * FROM {{companies}} WHERE company_id IN ({_marks(chunk)})", *chunk
            ):
                parking = row["max_parking_ms"]
                found[UUID(row["company_id"])] = DistributionSettings(
                    offer_timeout_seconds=row["offer_timeout_ms"] // 1000,
                    sticky_window_seconds=row["sticky_ms"] // 1000,
                    parked_count_toward_capacity=bool(row["parked_count"]),
                    max_parking_seconds=None if parking is None else parking // 1000,
                    inactivity_seconds=row["inactivity_ms"] // 1000,
                )
        return found

    def waiting(self, queue_id: UUID, free: Sequence[UUID], limit: int) -> list[WaitingItem]:
        """Oldest first: email of the queue not offered, that one of `free` has not rejected."""
        rows = self.view.select(
            "SELECT w.*, q.priority FROM {waiting} w JOIN {queues} q ON q.queue_id = w.queue_id "
            "WHERE w.queue_id = ? AND w.offered_to IS NULL AND (SELECT COUNT(*) FROM "
            f"{{rejections}} r WHERE r.interaction_id = w.interaction_id AND r.agent_id IN "
            f"({_marks(free)})) < ? ORDER BY w.arrived_ms, w.interaction_id LIMIT ?",
            queue_id,
            *free,
            len(free),
            limit,
        )
        return self._items(rows)

    def rejected_waiting(self, limit: int = 500) -> list[WaitingItem]:
        """Waiting email that someone rejected in this round, to see if the round is over."""
        rows = self.view.select(
            "SELECT w.*, q.priority FROM {waiting} w JOIN {queues} q ON q.queue_id = w.queue_id "
            "WHERE w.offered_to IS NULL AND EXISTS (SELECT 1 FROM {rejections} r "
            "WHERE r.interaction_id = w.interaction_id) ORDER BY w.interaction_id LIMIT ?",
            limit,
        )
        return self._items(rows)

    def _items(self, rows: list[dict[str, Any]]) -> list[WaitingItem]:
        rejected: dict[str, list[UUID]] = defaultdict(list)
        for chunk in _chunks([row["interaction_id"] for row in rows]):
            for row in self.view.select(
                "SELECT interaction_id, agent_id FROM {rejections} "
                f"WHERE interaction_id IN ({_marks(chunk)}) ORDER BY agent_id",
                *chunk,
            ):
                rejected[row["interaction_id"]].append(UUID(row["agent_id"]))
        return [
            WaitingItem(
                interaction_id=UUID(row["interaction_id"]),
                company_id=UUID(row["company_id"]),
                queue_id=UUID(row["queue_id"]),
                priority=row["priority"] or 0,
                arrived_ms=row["arrived_ms"],
                customer=row["customer"],
                rejected_by=tuple(rejected[row["interaction_id"]]),
            )
            for row in rows
        ]

    def last_handlers(self, company_id: UUID, customers: Iterable[str]) -> dict[str, LastHandler]:
        found: dict[str, LastHandler] = {}
        for chunk in _chunks(sorted(set(customers))):
            for row in self.view.select(
                "SELECT customer, agent_id, handled_ms FROM {handlers} WHERE company_id = ? "
                f"AND customer IN ({_marks(chunk)})",
                company_id,
                *chunk,
            ):
                found[row["customer"]] = LastHandler(
                    UUID(row["agent_id"]), at_ms(row["handled_ms"])
                )
        return found

    def expired_offers(self, now: datetime, limit: int = 500) -> list[tuple[UUID, int]]:
        """Standing offers older than their company's offer timeout: (interaction, version)."""
        rows = self.view.select(
            "SELECT w.interaction_id, w.offered_version FROM {waiting} w JOIN {companies} c "
            "ON c.company_id = w.company_id WHERE w.offered_to IS NOT NULL "
            "AND w.offered_ms + c.offer_timeout_ms <= ? ORDER BY w.offered_ms LIMIT ?",
            ms(now),
            limit,
        )
        return [(UUID(row["interaction_id"]), row["offered_version"]) for row in rows]

    def due(self, timer: Timer, now: datetime, limit: int = 200) -> list[UUID]:
        """Interactions whose timer ran longer than their company allows."""
        rows = self.view.select(
            f"SELECT i.interaction_id FROM {{interactions}} i JOIN {{companies}} c "
            f"ON c.company_id = i.company_id WHERE i.{timer} IS NOT NULL "
            f"AND c.{TIMER_LIMITS[timer]} IS NOT NULL "
            f"AND i.{timer} + c.{TIMER_LIMITS[timer]} <= ? ORDER BY i.{timer} LIMIT ?",
            ms(now),
            limit,
        )
        return [UUID(row["interaction_id"]) for row in rows]


def _board_agent(row: dict[str, Any], queue_ids: frozenset[UUID]) -> BoardAgent:
    state = AgentState(
        agent_id=UUID(row["agent_id"]),
        queue_ids=queue_ids,
        capacity=row["capacity"],
        idle_since=at_ms(max(row["available_ms"], row["offered_ms"])),
        logged_in=bool(row["logged_in"]),
        paused=bool(row["paused"]),
        on_call=bool(row["on_call"]),
        held=row["held"],
        parked=row["parked"],
        offer_pending=row["offer_id"] is not None,
    )
    return BoardAgent(state.agent_id, UUID(row["company_id"]), row["login_ms"], state)


def _marks(values: Sequence[Any]) -> str:
    return ", ".join("?" * len(values)) or "NULL"


def _chunks(values: Sequence[Any], size: int = 500) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]
