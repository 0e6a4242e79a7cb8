"""Wire shapes of reports; `avg_*` and `reopen_rate` are null when nothing was counted."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from pydantic import Field

from api.schemas.common import Out

FIGURES = (
    "offers",
    "rejections",
    "expiries",
    "accepted",
    "queue_wait_ms",
    "avg_queue_wait_ms",
    "first_responses",
    "first_response_ms",
    "avg_first_response_ms",
    "handling_ms",
    "avg_handling_ms",
    "transfers",
    "closed",
    "reopened",
    "reopen_rate",
)
AGE_BUCKETS = ("under_1h", "from_1h_to_4h", "from_4h_to_24h", "from_1d_to_3d", "over_3d")


class DayFigures(Out):
    """One day's figures; sums in milliseconds, averages divided out from them."""

    day: date
    offers: int
    rejections: int
    expiries: int
    accepted: int
    queue_wait_ms: int
    avg_queue_wait_ms: float | None = Field(description="queue_wait_ms / accepted")
    first_responses: int
    first_response_ms: int
    avg_first_response_ms: float | None = Field(description="first_response_ms / first_responses")
    handling_ms: int
    avg_handling_ms: float | None = Field(description="handling_ms / closed")
    transfers: int
    closed: int
    reopened: int
    reopen_rate: float | None = Field(description="reopened / closed")
    closed_by_disposition: dict[str, int] = Field(
        description='closed per disposition path joined with " / "; "(none)" without one'
    )


class QueueDayOut(DayFigures):
    queue_id: UUID
    received: int


class AgentDayOut(DayFigures):
    agent_id: UUID


class RangeOut(Out):
    company_id: UUID
    first: date = Field(alias="from")
    last: date = Field(alias="to")
    tz: str


class QueueReportOut(RangeOut):
    rows: list[QueueDayOut]


class AgentReportOut(RangeOut):
    rows: list[AgentDayOut]


class BacklogRowOut(Out):
    """Interactions waiting in one queue, by age since arrival."""

    queue_id: UUID
    waiting: int
    under_1h: int
    from_1h_to_4h: int
    from_4h_to_24h: int
    from_1d_to_3d: int
    over_3d: int
    oldest_arrived_at: datetime


class BacklogOut(Out):
    company_id: UUID
    now: datetime
    rows: list[BacklogRowOut]


class PauseOut(Out):
    """Ingestion paused at the open limit; a pause still running has no `resumed_at`."""

    paused_at: datetime
    resumed_at: datetime | None
    duration_ms: int
    open_count: int
    open_limit: int | None


class LimitHistoryOut(RangeOut):
    pauses: list[PauseOut]
