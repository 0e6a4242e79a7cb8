"""CompanyQuota: the count of a company's emails in progress, kept exact by optimistic locking.

It is saved in the same transaction as every event that opens or closes an interaction, so two
ingest workers can never both take the last free place.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import OpenLimitReached
from domain.ids import quota_id


class CompanyQuota(Aggregate):
    """Emails in progress of one company: received, reopened or started, and not closed."""

    class Created(Aggregate.Created):
        company_id: UUID

    class Reserved(Aggregate.Event):
        interaction_id: UUID
        open_count: int

    class Released(Aggregate.Event):
        interaction_id: UUID
        open_count: int

    @staticmethod
    def create_id(company_id: UUID) -> UUID:
        return quota_id(company_id)

    @event(Created)
    def __init__(self, *, company_id: UUID, timestamp: datetime) -> None:
        self.company_id = company_id
        self.open_count = 0

    def reserve(self, interaction_id: UUID, *, limit: int | None, at: datetime) -> None:
        """Takes a place; `limit` is None for agents' own actions, which are never refused."""
        if limit is not None and self.open_count >= limit:
            raise OpenLimitReached(
                f"company {self.company_id} has {self.open_count} emails in progress "
                f"(limit {limit})"
            )
        self._reserved(interaction_id=interaction_id, open_count=self.open_count + 1, timestamp=at)

    @event(Reserved)
    def _reserved(self, interaction_id: UUID, open_count: int, timestamp: datetime) -> None:
        self.open_count = open_count

    def release(self, interaction_id: UUID, *, at: datetime) -> None:
        self._released(
            interaction_id=interaction_id, open_count=max(0, self.open_count - 1), timestamp=at
        )

    @event(Released)
    def _released(self, interaction_id: UUID, open_count: int, timestamp: datetime) -> None:
        self.open_count = open_count
