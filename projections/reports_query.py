"""The SQL and arithmetic of report queries: local days summed from UTC hours, the backlog
by age, the pauses of ingestion. Averages and rates are divided out here, at query time."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from domain.errors import InvalidInput
from projections.base import Row, View
from projections.views import iso

MAX_DAYS = 366
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EPOCH_DAY = date(1970, 1, 1)
EARLIEST_DAY, LATEST_DAY = date(1970, 1, 2), date(9998, 12, 31)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
LATEST_OFFSET = timedelta(hours=14)  # no zone is further than 14 hours from UTC
UNASSIGNED = ""
CLOSED_AS = "closed:"
NO_DISPOSITION = "(none)"
AGE_BUCKETS = (  # (name, the youngest age in it)
    ("under_1h", timedelta(0)),
    ("from_1h_to_4h", timedelta(hours=1)),
    ("from_4h_to_24h", timedelta(hours=4)),
    ("from_1d_to_3d", timedelta(days=1)),
    ("over_3d", timedelta(days=3)),
)


class InvalidReportRange(InvalidInput):
    """The days asked for cannot be reported: reversed, too long, or an unusable time zone."""

    code = "invalid-report-range"


@dataclass(frozen=True)
class DayRange:
    """Local calendar days `first`..`last` (inclusive) in a zone, as UTC hour buckets.

    `segments` are (until_hour, offset_hours): hours before `until_hour` (and after the
    previous segment) are `offset_hours` from UTC; the last segment runs to `end_hour`.
    """

    first: date
    last: date
    tz: str
    start_hour: int
    end_hour: int
    segments: tuple[tuple[int, int], ...]

    @classmethod
    def of(cls, first: date, last: date, tz: str = "UTC") -> DayRange:
        if last < first:
            raise InvalidReportRange(f"the range ends ({last}) before it starts ({first})")
        if (last - first).days + 1 > MAX_DAYS:
            raise InvalidReportRange(f"a report covers at most {MAX_DAYS} days")
        if first < EARLIEST_DAY or last > LATEST_DAY:
            raise InvalidReportRange(f"reports cover days from {EARLIEST_DAY} to {LATEST_DAY}")
        local = zone(tz)
        start, end = _hours_of_days(first, last, local)
        segments: list[tuple[int, int]] = []
        for hour in range(start, end):
            offset = _whole_hours_offset(hour, local)
            if segments and segments[-1][1] == offset:
                segments[-1] = (hour + 1, offset)
            else:
                segments.append((hour + 1, offset))
        return cls(first, last, tz, start, end, tuple(segments))

    def day_sql(self) -> tuple[str, list[int]]:
        """SQL for the local day (days since 1970-01-01) of the `hour` column, and its params."""
        params: list[int] = []
        cases = []
        for until, offset in self.segments[:-1]:
            cases.append("WHEN hour < ? THEN ?")
            params += [until, offset]
        params.append(self.segments[-1][1])
        if not cases:
            return "(hour + ?) / 24", params
        return f"(hour + CASE {' '.join(cases)} ELSE ? END) / 24", params

    def instants(self) -> tuple[datetime, datetime]:
        """The first instant of the range and the first one after it."""
        return EPOCH + self.start_hour * HOUR, EPOCH + self.end_hour * HOUR


def zone(tz: str) -> ZoneInfo:
    """The IANA time zone named `tz`."""
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidReportRange(f"unknown time zone {tz!r}") from None


def _local(hour: int, local: ZoneInfo) -> datetime:
    return (EPOCH + hour * HOUR).astimezone(local)


def _hours_of_days(first: date, last: date, local: ZoneInfo) -> tuple[int, int]:
    """The first UTC hour whose local day is `first` and the hour after the last of `last`."""
    earliest = (datetime.combine(first, time(), UTC) - LATEST_OFFSET - EPOCH) // HOUR
    latest = (datetime.combine(last, time(), UTC) + DAY + LATEST_OFFSET - EPOCH) // HOUR
    inside = [h for h in range(earliest, latest) if first <= _local(h, local).date() <= last]
    if not inside:  # e.g. 2011-12-30 in Pacific/Apia, skipped when Samoa crossed the date line
        raise InvalidReportRange(f"no hour of {first}..{last} exists in {local.key}")
    return inside[0], inside[-1] + 1


def _whole_hours_offset(hour: int, local: ZoneInfo) -> int:
    """The zone's offset during this UTC hour, if it is whole hours all through it."""
    offset = _local(hour, local).utcoffset() or timedelta(0)
    last_moment = (EPOCH + (hour + 1) * HOUR - timedelta(microseconds=1)).astimezone(local)
    if offset % HOUR or offset != last_moment.utcoffset():
        raise InvalidReportRange(
            f"days in {local.key} do not begin on whole UTC hours: reports add up hours, "
            "so they are available in zones whose offset is whole hours"
        )
    return offset // HOUR


def _marks(values: Collection[Any]) -> str:
    return ", ".join("?" * len(values))


def day_rows(
    view: View,
    subject: str,
    company_id: UUID,
    days: DayRange,
    *,
    queue_ids: Collection[UUID] | None = None,
    agent_id: UUID | None = None,
) -> list[Row]:
    """Figures per `subject` (queue_id or agent_id) and local day, from the hour buckets."""
    if queue_ids is not None and not queue_ids:
        return []
    day, day_params = days.day_sql()
    where = [f"{subject} <> ?"]
    params: list[Any] = [company_id, days.start_hour, days.end_hour, UNASSIGNED]
    if queue_ids is not None:
        where.append(f"queue_id IN ({_marks(queue_ids)})")
        params += list(queue_ids)
    if agent_id is not None:
        where.append("agent_id = ?")
        params.append(agent_id)
    rows = view.select(
        f"SELECT {subject} AS subject, {day} AS day, metric, CAST(SUM(value) AS BIGINT) AS value "
        "FROM {hourly} WHERE company_id = ? AND hour >= ? AND hour < ? AND "
        f"{' AND '.join(where)} GROUP BY 1, 2, 3",
        *day_params,
        *params,
    )
    sums: dict[tuple[date, str], dict[str, int]] = defaultdict(dict)
    for row in rows:
        local_day = EPOCH_DAY + timedelta(days=row["day"])
        if days.first <= local_day <= days.last:
            sums[(local_day, row["subject"])][row["metric"]] = int(row["value"])
    with_received = subject == "queue_id"
    return [
        {
            subject: key,
            "day": local_day.isoformat(),
            **figures(sums[(local_day, key)], with_received),
        }
        for local_day, key in sorted(sums)
    ]


def ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def figures(sums: Mapping[str, int], with_received: bool) -> Row:
    """The report's figures from the day's sums and counts."""
    get = sums.get
    row: Row = {"received": get("received", 0)} if with_received else {}
    row |= {
        "offers": get("offers", 0),
        "rejections": get("rejections", 0),
        "expiries": get("expiries", 0),
        "accepted": get("accepted", 0),
        "queue_wait_ms": get("queue_wait_ms", 0),
        "avg_queue_wait_ms": ratio(get("queue_wait_ms", 0), get("accepted", 0)),
        "first_responses": get("first_responses", 0),
        "first_response_ms": get("first_response_ms", 0),
        "avg_first_response_ms": ratio(get("first_response_ms", 0), get("first_responses", 0)),
        "handling_ms": get("handling_ms", 0),
        "avg_handling_ms": ratio(get("handling_ms", 0), get("closed", 0)),
        "transfers": get("transfers", 0),
        "closed": get("closed", 0),
        "reopened": get("reopened", 0),
        "reopen_rate": ratio(get("reopened", 0), get("closed", 0)),
        "closed_by_disposition": {
            metric.removeprefix(CLOSED_AS) or NO_DISPOSITION: count
            for metric, count in sorted(sums.items())
            if metric.startswith(CLOSED_AS)
        },
    }
    return row


def backlog_rows(
    view: View, company_id: UUID, now: datetime, *, queue_ids: Collection[UUID] | None = None
) -> list[Row]:
    """Interactions waiting per queue at `now`, bucketed by age since their arrival."""
    if queue_ids is not None and not queue_ids:
        return []
    bounds = [iso(now - youngest) for _, youngest in AGE_BUCKETS]
    buckets: list[str] = []
    params: list[Any] = []
    for number, (name, _) in enumerate(AGE_BUCKETS):
        conditions, values = [], []
        if number > 0:  # at least as old as the bucket's youngest
            conditions.append("arrived_at <= ?")
            values.append(bounds[number])
        if number + 1 < len(AGE_BUCKETS):  # younger than the next bucket's youngest
            conditions.append("arrived_at > ?")
            values.append(bounds[number + 1])
        when = " AND ".join(conditions)
        buckets.append(f"CAST(SUM(CASE WHEN {when} THEN 1 ELSE 0 END) AS BIGINT) AS {name}")
        params += values
    where = ["company_id = ?", "waiting_queue_id IS NOT NULL"]
    params.append(company_id)
    if queue_ids is not None:
        where.append(f"waiting_queue_id IN ({_marks(queue_ids)})")
        params += list(queue_ids)
    return view.select(
        f"SELECT waiting_queue_id AS queue_id, COUNT(*) AS waiting, {', '.join(buckets)}, "
        "MIN(arrived_at) AS oldest_arrived_at FROM {interactions} "
        f"WHERE {' AND '.join(where)} GROUP BY waiting_queue_id ORDER BY waiting_queue_id",
        *params,
    )


def pause_periods(
    history: Iterable[Row], start: datetime, end: datetime, now: datetime
) -> list[Row]:
    """When ingestion paused at the open limit and for how long, overlapping start..end.

    A pause still running at `now` has no `resumed_at` and lasts until `now`."""
    periods: list[Row] = []
    paused: Row | None = None
    for change in history:
        if change["paused"] and paused is None:
            paused = change
        elif not change["paused"] and paused is not None:
            periods.append(_period(paused, change["at"], now))
            paused = None
    if paused is not None:
        periods.append(_period(paused, None, now))
    return [
        p
        for p in periods
        if p["paused_at"] < iso(end) and (p["resumed_at"] is None or p["resumed_at"] >= iso(start))
    ]


def _period(paused: Row, resumed_at: str | None, now: datetime) -> Row:
    began = datetime.fromisoformat(paused["at"])
    ended = now if resumed_at is None else datetime.fromisoformat(resumed_at)
    return {
        "paused_at": paused["at"],
        "resumed_at": resumed_at,
        "duration_ms": max(0, round((ended - began) / timedelta(milliseconds=1))),
        "open_count": paused["open_count"],
        "open_limit": paused["open_limit"],
    }
