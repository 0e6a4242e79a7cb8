"""Reports for supervisors and admins, as JSON or CSV: per queue and per agent per day, the
backlog by age, and when ingestion paused at the open limit.

Days are calendar days in `tz` (default UTC; zones whose offset is whole hours), `from` and
`to` inclusive, at most 366 of them; `to` defaults to today and `from` to six days before
`to`. The definitions of the figures are in `projections/reports.py`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Response

from api.auth import Principal
from api.bootstrap import Services
from api.deps import CurrentUser, ServicesDep, await_position
from api.schemas.reports import (
    AGE_BUCKETS,
    FIGURES,
    AgentReportOut,
    BacklogOut,
    LimitHistoryOut,
    QueueReportOut,
)
from domain.errors import QueueNotFound
from projections.reports_query import EARLIEST_DAY, DayRange, pause_periods, zone

router = APIRouter(prefix="/v1/companies", tags=["reports"])
DEFAULT_DAYS = 7
From = Annotated[date | None, Query(alias="from", description="first day, YYYY-MM-DD")]
To = Annotated[date | None, Query(alias="to", description="last day, inclusive")]
Zone = Annotated[str, Query(max_length=64, description="IANA zone of the day boundaries")]
Format = Literal["json", "csv"]
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CSV: dict[int | str, dict[str, Any]] = {200: {"content": {"text/csv": {}}}}


def _reader(services: Services, user: Principal, company_id: UUID, min_position: int) -> UUID:
    scope = user.scope(company_id, "supervisor", "admin")
    await_position(services, min_position)
    return scope


def _days(services: Services, first: date | None, last: date | None, tz: str) -> DayRange:
    last = last or services.clock().astimezone(zone(tz)).date()
    if first is None:  # a week up to `to`, never before the first day reports cover
        week = timedelta(days=DEFAULT_DAYS - 1)
        first = last - week if last >= EARLIEST_DAY + week else EARLIEST_DAY
    return DayRange.of(first, last, tz)


def _range(scope: UUID, days: DayRange) -> dict[str, Any]:
    return {"company_id": scope, "from": days.first, "to": days.last, "tz": days.tz}


def _queues(
    services: Services, user: Principal, scope: UUID, queue: UUID | None
) -> list[UUID] | None:
    """The queues whose figures the caller reads (None: all): a supervisor's access profile
    shows its queues and those they are a member of; `queue` narrows to one."""
    visible: set[UUID] | None = None
    if user.role == "supervisor" and user.visible_queue_ids is not None:
        member_of = services.app.agent(user.user_id, scope).queue_ids
        visible = {*user.visible_queue_ids, *member_of}
    if queue is None:
        return None if visible is None else sorted(visible)
    services.app.queue(queue, scope)
    if visible is not None and queue not in visible:
        raise QueueNotFound(f"no queue {queue}")
    return [queue]


def _cell(value: Any) -> Any:
    """Text a spreadsheet would run as a formula (admin-defined names) is kept as text."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _csv(columns: Sequence[str], rows: Iterable[dict[str, Any]], filename: str) -> Response:
    """RFC 4180: a header row, CRLF line ends, fields quoted when they need it."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([_cell(c) for c in columns])
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return Response(
        buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _day_csv(leading: list[str], rows: list[dict[str, Any]], filename: str) -> Response:
    """Each disposition path becomes a column `closed: <path>`."""
    paths = sorted({path for row in rows for path in row["closed_by_disposition"]})
    flat = [
        {**row, **{f"closed: {p}": n for p, n in row["closed_by_disposition"].items()}}
        for row in rows
    ]
    columns = [*leading, *FIGURES, *(f"closed: {p}" for p in paths)]
    return _csv(columns, flat, filename)


@router.get("/{company_id}/reports/queues", response_model=QueueReportOut, responses=CSV)
def queue_report(
    company_id: UUID,
    user: CurrentUser,
    services: ServicesDep,
    first: From = None,
    last: To = None,
    tz: Zone = "UTC",
    queue: UUID | None = None,
    format: Format = "json",
    min_position: int = 0,
) -> Any:
    """Per queue and day: received, first response, handling, time in queue, offers, ..."""
    scope = _reader(services, user, company_id, min_position)
    days = _days(services, first, last, tz)
    rows = services.read.reports.queue_days(
        scope, days, queue_ids=_queues(services, user, scope, queue)
    )
    report = QueueReportOut.model_validate({**_range(scope, days), "rows": rows})
    if format == "json":
        return report
    dumped = report.model_dump(mode="json")["rows"]
    return _day_csv(["queue_id", "day", "received"], dumped, f"queues-{days.first}-{days.last}.csv")


@router.get("/{company_id}/reports/agents", response_model=AgentReportOut, responses=CSV)
def agent_report(
    company_id: UUID,
    user: CurrentUser,
    services: ServicesDep,
    first: From = None,
    last: To = None,
    tz: Zone = "UTC",
    agent: UUID | None = None,
    format: Format = "json",
    min_position: int = 0,
) -> Any:
    """Per agent and day, from the queues the caller may see: the figures of queue reports
    that name an agent."""
    scope = _reader(services, user, company_id, min_position)
    days = _days(services, first, last, tz)
    if agent is not None:
        services.app.agent(agent, scope)
    rows = services.read.reports.agent_days(
        scope, days, agent_id=agent, queue_ids=_queues(services, user, scope, None)
    )
    report = AgentReportOut.model_validate({**_range(scope, days), "rows": rows})
    if format == "json":
        return report
    dumped = report.model_dump(mode="json")["rows"]
    return _day_csv(["agent_id", "day"], dumped, f"agents-{days.first}-{days.last}.csv")


@router.get("/{company_id}/reports/backlog", response_model=BacklogOut, responses=CSV)
def backlog(
    company_id: UUID,
    user: CurrentUser,
    services: ServicesDep,
    now: datetime | None = None,
    format: Format = "json",
    min_position: int = 0,
) -> Any:
    """Interactions waiting per queue, by age since arrival at `now` (default: the clock)."""
    scope = _reader(services, user, company_id, min_position)
    at = services.clock() if now is None else now
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at
    rows = services.read.reports.backlog(scope, at, queue_ids=_queues(services, user, scope, None))
    report = BacklogOut.model_validate({"company_id": scope, "now": at, "rows": rows})
    if format == "json":
        return report
    columns = ["queue_id", "waiting", *AGE_BUCKETS, "oldest_arrived_at"]
    return _csv(columns, report.model_dump(mode="json")["rows"], "backlog.csv")


@router.get("/{company_id}/reports/limit-history", response_model=LimitHistoryOut, responses=CSV)
def limit_history(
    company_id: UUID,
    user: CurrentUser,
    services: ServicesDep,
    first: From = None,
    last: To = None,
    tz: Zone = "UTC",
    format: Format = "json",
    min_position: int = 0,
) -> Any:
    """When ingestion paused at the company's open limit, and for how long."""
    scope = _reader(services, user, company_id, min_position)
    days = _days(services, first, last, tz)
    start, end = days.instants()
    history = services.read.company_limits.history(scope)
    pauses = pause_periods(history, start, end, services.clock())
    report = LimitHistoryOut.model_validate({**_range(scope, days), "pauses": pauses})
    if format == "json":
        return report
    columns = ["paused_at", "resumed_at", "duration_ms", "open_count", "open_limit"]
    dumped = report.model_dump(mode="json")["pauses"]
    return _csv(columns, dumped, f"limit-history-{days.first}-{days.last}.csv")
