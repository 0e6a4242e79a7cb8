"""Wire shapes of distribution: a company's settings, and agents' availability in a queue."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import Field

from api.schemas.common import Body, Out


class DistributionIn(Body):
    """The whole setting: what is left out takes its default (PUT replaces)."""

    offer_timeout_seconds: int = Field(default=60, ge=5, le=3600)
    sticky_window_seconds: int = Field(default=7 * 86400, ge=0, le=365 * 86400)
    parked_count_toward_capacity: bool = True
    max_parking_seconds: int | None = Field(default=None, ge=60, le=365 * 86400)
    inactivity_seconds: int = Field(default=30 * 86400, ge=3600, le=365 * 86400)


class DistributionOut(Out):
    company_id: UUID
    offer_timeout_seconds: int
    sticky_window_seconds: int
    parked_count_toward_capacity: bool
    max_parking_seconds: int | None
    inactivity_seconds: int
    position: int


class AvailabilityOut(Out):
    agent_id: UUID
    logged_in: bool
    present: bool
    paused: bool
    on_call: bool
    held: int
    parked: int
    capacity: int
    idle_since: datetime
    offer_pending: bool
