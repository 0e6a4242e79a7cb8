"""Reports against a month of traffic through the real application, on SQLite and PostgreSQL.

Seeded random work goes through ContactCenter commands with a moving clock; every figure is
then recomputed here from the raw event log with plain Python, and must equal what the
projection answers, both live and after a rebuild.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from random import Random
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest

from adapters.persistence import Persistence
from domain.application import ContactCenter
from domain.interaction import Interaction
from domain.messages import Status
from projections.reports import Reports
from projections.reports_query import DayRange
from projections.runner import CatchUpRunner, rebuild
from tests.fakes import FixedClock
from tests.integration.reports_traffic import Desk

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
FIRST, LAST = date(2026, 3, 1), date(2026, 4, 3)
ZONES = ("UTC", "Europe/Berlin", "America/New_York")  # both move to summer time in March


def read_log(app: ContactCenter) -> Iterator[Any]:
    position = 0
    while page := app.recorder.select_notifications(position, 500, inclusive_of_start=False):
        yield from (app.mapper.to_domain_event(n) for n in page)
        position = page[-1].id


Fact = tuple[UUID, UUID | None, UUID | None, datetime, str, int]  # company, queue, agent, ...


class LogFold:
    """Every figure the definitions name, with its company, queue, agent, time and value,
    folded from the log's events in order."""

    def __init__(self, app: ContactCenter) -> None:
        self.facts: list[Fact] = []
        self.seen: dict[UUID, dict[str, Any]] = {}
        for event in read_log(app):
            self.fold(event)

    def add(self, it: dict[str, Any], e: Any, metric: str, value: int = 1, **about: Any) -> None:
        if value:
            at = about.get("at", e.timestamp)
            self.facts.append((it["company"], it["queue"], about.get("agent"), at, metric, value))

    def wait(self, it: dict[str, Any], queue: UUID | None, since: datetime) -> None:
        if it["waiting"] is None or it["waiting"][0] != queue:
            it["waiting"] = (queue, since)

    def fold(self, e: Any) -> None:
        if isinstance(e, Interaction.Received | Interaction.Started):
            self.seen[e.originator_id] = {
                "company": e.company_id,
                "queue": getattr(e, "queue_id", None),
                "arrived": e.timestamp,
                "inbound": isinstance(e, Interaction.Received),
                "replied": False,
                "waiting": None,  # (queue, since)
            }
        elif (it := self.seen.get(e.originator_id)) is not None:
            self.fold_work(it, e)

    def fold_work(self, it: dict[str, Any], e: Any) -> None:
        add, agent = self.add, getattr(e, "agent_id", None)
        if isinstance(e, Interaction.Routed):
            it["queue"] = e.queue_id
            add(it, e, "received", at=it["arrived"])
            self.wait(it, e.queue_id, e.timestamp)
        elif isinstance(e, Interaction.Offered | Interaction.OfferRejected):
            add(
                it, e, "offers" if isinstance(e, Interaction.Offered) else "rejections", agent=agent
            )
        elif isinstance(e, Interaction.OfferExpired):
            add(it, e, "expiries", agent=agent)
        elif isinstance(e, Interaction.Accepted):
            add(it, e, "accepted", agent=agent)
            if it["waiting"] is not None:
                waited = (e.timestamp - it["waiting"][1]).total_seconds() * 1000
                add(it, e, "queue_wait_ms", round(waited), agent=agent)
            it["waiting"] = None
        elif isinstance(e, Interaction.Parked):
            add(it, e, "handling_ms", e.segment_ms, agent=agent)
        elif isinstance(e, Interaction.ReplyQueued) and it["inbound"] and not it["replied"]:
            it["replied"] = True
            add(it, e, "first_responses", agent=agent)
            waited = (e.timestamp - it["arrived"]).total_seconds() * 1000
            add(it, e, "first_response_ms", round(waited), agent=agent)
        elif isinstance(e, Interaction.Transferred):
            add(it, e, "handling_ms", e.segment_ms, agent=e.from_agent_id)
            add(it, e, "transfers", agent=e.from_agent_id)
            it["queue"] = e.queue_id
            if e.to_queue_id is None:
                it["waiting"] = None
            else:
                self.wait(it, e.to_queue_id, e.timestamp)
        elif isinstance(e, Interaction.ReturnedToQueue):
            add(it, e, "handling_ms", e.segment_ms, agent=agent)
            self.wait(it, it["queue"], e.timestamp)
        elif isinstance(e, Interaction.Closed):
            add(it, e, "handling_ms", e.segment_ms, agent=agent)
            add(it, e, "closed", agent=agent)
            add(it, e, "as " + " / ".join(e.disposition), agent=agent)
            it["waiting"] = None
        elif isinstance(e, Interaction.Reopened):
            add(it, e, "reopened", agent=agent)
            if agent is None:
                self.wait(it, it["queue"], e.timestamp)


def expected_rows(
    facts: list[Fact],
    company: UUID,
    tz: str,
    by: str,
    queues: list[UUID] | None = None,
    agent: UUID | None = None,
) -> list[dict[str, Any]]:
    days: dict[tuple[date, str], Counter[str]] = defaultdict(Counter)
    for fact_company, queue, fact_agent, at, metric, value in facts:
        subject = queue if by == "queue" else fact_agent
        day = at.astimezone(ZoneInfo(tz)).date()
        if (
            fact_company == company
            and subject is not None
            and (queues is None or queue in queues)
            and agent in (None, fact_agent)
            and FIRST <= day <= LAST
        ):
            days[(day, str(subject))][metric] += value
    return [expected_row(by, subject, day, days[(day, subject)]) for day, subject in sorted(days)]


def expected_row(by: str, subject: str, day: date, n: Counter[str]) -> dict[str, Any]:
    def per(part: str, whole: str) -> float | None:
        return n[part] / n[whole] if n[whole] else None

    row: dict[str, Any] = {f"{by}_id": subject, "day": day.isoformat()}
    if by == "queue":
        row["received"] = n["received"]
    return row | {
        **{m: n[m] for m in ("offers", "rejections", "expiries", "accepted", "queue_wait_ms")},
        "avg_queue_wait_ms": per("queue_wait_ms", "accepted"),
        "first_responses": n["first_responses"],
        "first_response_ms": n["first_response_ms"],
        "avg_first_response_ms": per("first_response_ms", "first_responses"),
        "handling_ms": n["handling_ms"],
        "avg_handling_ms": per("handling_ms", "closed"),
        **{m: n[m] for m in ("transfers", "closed", "reopened")},
        "reopen_rate": per("reopened", "closed"),
        "closed_by_disposition": {
            metric[3:] or "(none)": count
            for metric, count in sorted(n.items())
            if metric.startswith("as ")
        },
    }


def waiting_now(app: ContactCenter, desk: Desk) -> dict[str, list[datetime]]:
    """From the aggregates themselves: who waits in which queue, since their first event."""
    waiting: dict[str, list[datetime]] = defaultdict(list)
    for iid in desk.threads:
        it = app.interaction(iid)
        if it.status in (Status.QUEUED, Status.OFFERED):
            waiting[str(it.queue_id)].append(next(iter(app.events.get(iid))).timestamp)
    return waiting


def expected_backlog(waiting: dict[str, list[datetime]], now: datetime) -> list[dict[str, Any]]:
    bounds = [timedelta(hours=h) for h in (1, 4, 24, 72)]
    rows = []
    for queue, arrivals in sorted(waiting.items()):
        ages = [sum(now - arrived >= bound for bound in bounds) for arrived in arrivals]
        rows.append(
            {
                "queue_id": queue,
                "waiting": len(arrivals),
                **{name: ages.count(n) for n, name in enumerate(BUCKETS)},
                "oldest_arrived_at": min(arrivals).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            }
        )
    return rows


BUCKETS = ("under_1h", "from_1h_to_4h", "from_4h_to_24h", "from_1d_to_3d", "over_3d")


def assert_reports_match_the_log(
    reports: Reports, app: ContactCenter, acme: Desk, other: Desk, now: datetime
) -> None:
    facts = LogFold(app).facts
    for desk in (acme, other):
        for tz in ZONES:
            days = DayRange.of(FIRST, LAST, tz)
            assert reports.queue_days(desk.id, days) == expected_rows(facts, desk.id, tz, "queue")
            assert reports.agent_days(desk.id, days) == expected_rows(facts, desk.id, tz, "agent")
    days, visible, agent = DayRange.of(FIRST, LAST), acme.queues[:2], sorted(acme.members)[0]
    assert reports.queue_days(acme.id, days, queue_ids=visible) == expected_rows(
        facts, acme.id, "UTC", "queue", queues=visible
    )
    assert reports.agent_days(acme.id, days, agent_id=agent, queue_ids=visible) == (
        expected_rows(facts, acme.id, "UTC", "agent", queues=visible, agent=agent)
    )
    for desk in (acme, other):
        waiting = waiting_now(app, desk)
        for later in (timedelta(0), timedelta(minutes=50), timedelta(hours=5), timedelta(days=2)):
            assert reports.backlog(desk.id, now + later) == expected_backlog(waiting, now + later)
    assert reports.backlog(acme.id, now, queue_ids=[]) == []


@pytest.fixture
def app(persistence: Persistence) -> Iterator[ContactCenter]:
    app = ContactCenter(env=persistence.application_env())
    yield app
    app.close()


def test_a_month_of_traffic_is_reported_as_the_log_says(
    app: ContactCenter, persistence: Persistence
) -> None:
    rng, clock = Random(20260302), FixedClock(T0)
    acme, other = Desk(app, rng, clock), Desk(app, rng, clock)
    reports = Reports.open(persistence.view_datastore("reports"))
    live = CatchUpRunner(app, reports, page_size=37, listen=False)
    steps = 0
    while clock.now < T0 + timedelta(days=30):
        clock.advance(minutes=rng.randint(1, 35))
        (acme if rng.random() < 0.9 else other).step()
        steps += 1
        if steps % 25 == 0:  # the live view follows in pages that cut across commands
            live.run_once()
    while live.run_once():
        pass

    totals = Counter[str]()
    for row in reports.queue_days(acme.id, DayRange.of(FIRST, LAST)):
        totals.update({k: v for k, v in row.items() if isinstance(v, int)})
    assert totals["received"] == acme.received > 200
    assert totals["handling_ms"] == sum(app.interaction(i).handling_ms for i in acme.threads)
    assert min(totals.values()) > 0, totals  # every figure was exercised
    assert_reports_match_the_log(reports, app, acme, other, clock.now)

    before = reports.view.dump()
    rebuild(app, reports)
    assert reports.view.dump() == before
    assert_reports_match_the_log(reports, app, acme, other, clock.now)
    reports.view.close()
