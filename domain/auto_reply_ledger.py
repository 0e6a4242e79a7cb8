"""The automatic replies sent to one sender of a company: at most one per window."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import RuleViolated
from domain.ids import NAMESPACE


class AutoReplyLedger(Aggregate):
    """Saved in the same transaction as the auto-reply it allows, so a crash or a race cannot
    let a second one through inside the window."""

    class Opened(Aggregate.Created):
        company_id: UUID
        sender: str

    class Replied(Aggregate.Event):
        interaction_id: UUID
        arrived_at: datetime
        actor: str

    @staticmethod
    def create_id(company_id: UUID, sender: str) -> UUID:
        return ledger_id(company_id, sender)

    @event(Opened)
    def __init__(self, *, company_id: UUID, sender: str, timestamp: datetime) -> None:
        self.company_id, self.sender = company_id, sender
        self.last_arrival: datetime | None = None

    def allows(self, arrived_at: datetime, window: timedelta) -> bool:
        """Windows are measured between arrival times, so a backlog decides as it would have."""
        return self.last_arrival is None or abs(arrived_at - self.last_arrival) >= window

    def replied(
        self, interaction_id: UUID, arrived_at: datetime, window: timedelta, *, at: datetime
    ) -> None:
        if not self.allows(arrived_at, window):
            raise RuleViolated(f"{self.sender} had an automatic reply less than {window} ago")
        self._replied(
            interaction_id=interaction_id, arrived_at=arrived_at, actor="system", timestamp=at
        )

    @event(Replied)
    def _replied(
        self, interaction_id: UUID, arrived_at: datetime, actor: str, timestamp: datetime
    ) -> None:
        self.last_arrival = arrived_at


def ledger_id(company_id: UUID, sender: str) -> UUID:
    return uuid5(NAMESPACE, f"auto-reply/{company_id}/{sender.casefold()}")
