"""Reports: per queue and per agent figures in UTC hour buckets, and the backlog by age.

Every figure is a count or a sum added to one bucket (company, UTC hour, queue, agent,
metric), so a rebuild from the log gives the same rows, and averages and rates are divided
out at query time; days in any whole-hour time zone are summed from the hours at query time.

What each figure counts. The hour is that of the event that produces the figure, the queue
is the interaction's queue at that moment, the agent is the one named in the event (figures
of events naming no agent, e.g. received, appear in queue reports only):
- received: a new inbound interaction (a customer's email that opened one, continuations of
  closed ones included; emails threaded into an open one are not), counted in the hour of
  its arrival (`received`) for the queue routing put it in;
- first response: from arrival to the first `reply_queued` of an inbound interaction, the
  moment the agent sent the reply (it then waits in the outbox for SMTP); forwards and
  auto-replies are not responses, and agents' own outbound interactions have none;
- handling: `segment_ms` of the events that end an active segment (parked, transferred,
  returned to queue, closed), so parked, queued and call time are excluded; the transfer's is
  the queue it left and the agent who gave it away;
- time in queue: from entering a queue's waiting list (routed, returned, transferred to a
  queue, reopened to the queue) until `accepted`, counted at the acceptance with it; a wait
  that ends otherwise (closed or transferred while waiting) is not counted;
- offers, rejections, expiries, transfers, closed (and by disposition path), reopened: one
  each per event.
Divided out at query time: average time in queue per acceptance, average first response per
first response, average handling per close, reopen rate = reopened / closed (all of that day).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from uuid import UUID

from domain.interaction import Interaction
from projections.base import Projection, Row, Table, Tx, handles
from projections.reports_query import (
    CLOSED_AS,
    EPOCH,
    HOUR,
    UNASSIGNED,
    DayRange,
    backlog_rows,
    day_rows,
)

MILLISECOND = timedelta(milliseconds=1)


def hour_of(at: datetime) -> int:
    """Hours since the epoch, UTC: the bucket of an event."""
    return (at - EPOCH) // HOUR


def elapsed_ms(start: datetime, end: datetime) -> int:
    return round((end - start) / MILLISECOND)


def _id(value: UUID | str | None) -> str:
    return UNASSIGNED if value is None else str(value)


class Reports(Projection):
    """Rows for `GET /v1/companies/{cid}/reports/...`."""

    name = "reports"
    tables = (
        Table(
            "hourly",
            "company_id TEXT NOT NULL, hour BIGINT NOT NULL, queue_id TEXT NOT NULL, "
            "agent_id TEXT NOT NULL, metric TEXT NOT NULL, value BIGINT NOT NULL",
            "company_id, hour, queue_id, agent_id, metric",
        ),
        Table(
            "interactions",
            "interaction_id TEXT NOT NULL, company_id TEXT NOT NULL, queue_id TEXT NOT NULL, "
            "arrived_at TEXT NOT NULL, inbound INTEGER NOT NULL, replied INTEGER NOT NULL, "
            "waiting_queue_id TEXT, waiting_since TEXT",
            "interaction_id",
            ("company_id, waiting_queue_id",),
        ),
    )

    # --- the interaction as reports follow it ------------------------------------------

    @handles(Interaction.Received)
    def _received(self, tx: Tx, e: Interaction.Received, position: int) -> None:
        self._remember(tx, e.originator_id, e.company_id, None, e.timestamp, inbound=True)

    @handles(Interaction.Started)
    def _started(self, tx: Tx, e: Interaction.Started, position: int) -> None:
        self._remember(tx, e.originator_id, e.company_id, e.queue_id, e.timestamp, inbound=False)

    @handles(Interaction.Routed)
    def _routed(self, tx: Tx, e: Interaction.Routed, position: int) -> None:
        state = self._state(tx, e.originator_id)
        arrived_at = datetime.fromisoformat(state["arrived_at"])
        self._add(tx, state, arrived_at, "received", queue=e.queue_id)
        self._move(tx, e.originator_id, e.queue_id)
        self._wait(tx, state, e.queue_id, e.timestamp)

    @handles(Interaction.Offered)
    def _offered(self, tx: Tx, e: Interaction.Offered, position: int) -> None:
        state = self._state(tx, e.originator_id)
        queue = e.queue_id or state["queue_id"]
        self._add(tx, state, e.timestamp, "offers", queue=queue, agent=e.agent_id)

    @handles(Interaction.OfferRejected)
    def _offer_rejected(self, tx: Tx, e: Interaction.OfferRejected, position: int) -> None:
        state = self._state(tx, e.originator_id)
        self._add(tx, state, e.timestamp, "rejections", agent=e.agent_id)

    @handles(Interaction.OfferExpired)
    def _offer_expired(self, tx: Tx, e: Interaction.OfferExpired, position: int) -> None:
        state = self._state(tx, e.originator_id)
        self._add(tx, state, e.timestamp, "expiries", agent=e.agent_id)

    @handles(Interaction.Accepted)
    def _accepted(self, tx: Tx, e: Interaction.Accepted, position: int) -> None:
        state = self._state(tx, e.originator_id)
        queue = e.queue_id or state["queue_id"]
        self._add(tx, state, e.timestamp, "accepted", queue=queue, agent=e.agent_id)
        if state["waiting_since"] is not None:
            waited = elapsed_ms(datetime.fromisoformat(state["waiting_since"]), e.timestamp)
            self._add(
                tx, state, e.timestamp, "queue_wait_ms", waited, queue=queue, agent=e.agent_id
            )
        self._wait(tx, state, None, None)

    @handles(Interaction.Parked)
    def _parked(self, tx: Tx, e: Interaction.Parked, position: int) -> None:
        state = self._state(tx, e.originator_id)
        self._add(tx, state, e.timestamp, "handling_ms", e.segment_ms, agent=e.agent_id)

    @handles(Interaction.ReplyQueued)
    def _reply_queued(self, tx: Tx, e: Interaction.ReplyQueued, position: int) -> None:
        state = self._state(tx, e.originator_id)
        if not state["inbound"] or state["replied"]:
            return
        waited = elapsed_ms(datetime.fromisoformat(state["arrived_at"]), e.timestamp)
        self._add(tx, state, e.timestamp, "first_responses", agent=e.agent_id)
        self._add(tx, state, e.timestamp, "first_response_ms", waited, agent=e.agent_id)
        tx.execute(
            "UPDATE {interactions} SET replied = 1 WHERE interaction_id = ?", e.originator_id
        )

    @handles(Interaction.Transferred)
    def _transferred(self, tx: Tx, e: Interaction.Transferred, position: int) -> None:
        state = self._state(tx, e.originator_id)
        agent = e.from_agent_id
        self._add(tx, state, e.timestamp, "handling_ms", e.segment_ms, agent=agent)
        self._add(tx, state, e.timestamp, "transfers", agent=agent)
        self._move(tx, e.originator_id, e.queue_id)
        since = None if e.to_queue_id is None else e.timestamp
        self._wait(tx, state, e.to_queue_id, since)

    @handles(Interaction.ReturnedToQueue)
    def _returned(self, tx: Tx, e: Interaction.ReturnedToQueue, position: int) -> None:
        state = self._state(tx, e.originator_id)
        queue = e.queue_id or state["queue_id"]
        self._add(
            tx, state, e.timestamp, "handling_ms", e.segment_ms, queue=queue, agent=e.agent_id
        )
        self._wait(tx, state, queue, e.timestamp)

    @handles(Interaction.Closed)
    def _closed(self, tx: Tx, e: Interaction.Closed, position: int) -> None:
        state = self._state(tx, e.originator_id)
        queue, agent = e.queue_id or state["queue_id"], e.agent_id
        self._add(tx, state, e.timestamp, "handling_ms", e.segment_ms, queue=queue, agent=agent)
        self._add(tx, state, e.timestamp, "closed", queue=queue, agent=agent)
        path = CLOSED_AS + " / ".join(e.disposition)
        self._add(tx, state, e.timestamp, path, queue=queue, agent=agent)
        self._wait(tx, state, None, None)

    @handles(Interaction.Reopened)
    def _reopened(self, tx: Tx, e: Interaction.Reopened, position: int) -> None:
        state = self._state(tx, e.originator_id)
        queue = e.queue_id or state["queue_id"]
        self._add(tx, state, e.timestamp, "reopened", queue=queue, agent=e.agent_id)
        if e.agent_id is None:
            self._wait(tx, state, queue, e.timestamp)

    # --- writing -------------------------------------------------------------------------

    def _remember(
        self,
        tx: Tx,
        interaction_id: UUID,
        company_id: UUID,
        queue_id: UUID | None,
        arrived_at: datetime,
        *,
        inbound: bool,
    ) -> None:
        tx.insert(
            "interactions",
            interaction_id=interaction_id,
            company_id=company_id,
            queue_id=_id(queue_id),
            arrived_at=arrived_at,
            inbound=inbound,
            replied=False,
        )

    def _state(self, tx: Tx, interaction_id: UUID) -> Row:
        row = tx.execute(
            "SELECT interaction_id, company_id, queue_id, arrived_at, inbound, replied, "
            "waiting_queue_id, waiting_since FROM {interactions} WHERE interaction_id = ?",
            interaction_id,
        ).one()
        if row is None:
            raise LookupError(f"interaction {interaction_id} was never received or started")
        return row

    def _move(self, tx: Tx, interaction_id: UUID, queue_id: UUID | None) -> None:
        tx.execute(
            "UPDATE {interactions} SET queue_id = ? WHERE interaction_id = ?",
            _id(queue_id),
            interaction_id,
        )

    def _wait(
        self, tx: Tx, state: Row, queue_id: UUID | str | None, since: datetime | None
    ) -> None:
        """Waiting in `queue_id` since `since` (None: not waiting); staying in the same
        waiting list (a new offer round) keeps the time it started waiting."""
        if queue_id is not None and state["waiting_queue_id"] == _id(queue_id):
            return
        tx.execute(
            "UPDATE {interactions} SET waiting_queue_id = ?, waiting_since = ? "
            "WHERE interaction_id = ?",
            None if queue_id is None else _id(queue_id),
            None if queue_id is None else since,
            state["interaction_id"],
        )

    def _add(
        self,
        tx: Tx,
        state: Row,
        at: datetime,
        metric: str,
        value: int = 1,
        *,
        queue: UUID | str | None = None,
        agent: UUID | None = None,
    ) -> None:
        """Adds to the bucket of `at`'s hour; `queue` defaults to the interaction's own."""
        if value == 0:
            return
        tx.execute(
            "INSERT INTO {hourly} AS h (company_id, hour, queue_id, agent_id, metric, value) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (company_id, hour, queue_id, agent_id, "
            "metric) DO UPDATE SET value = h.value + excluded.value",
            state["company_id"],
            hour_of(at),
            _id(queue) if queue is not None else state["queue_id"],
            _id(agent),
            metric,
            value,
        )

    # --- queries -------------------------------------------------------------------------

    def queue_days(
        self, company_id: UUID, days: DayRange, *, queue_ids: Collection[UUID] | None = None
    ) -> list[Row]:
        """One row per queue and day with any figure, by day then queue."""
        return day_rows(self.view, "queue_id", company_id, days, queue_ids=queue_ids)

    def agent_days(
        self,
        company_id: UUID,
        days: DayRange,
        *,
        agent_id: UUID | None = None,
        queue_ids: Collection[UUID] | None = None,
    ) -> list[Row]:
        """One row per agent and day with any figure, counting only `queue_ids`' figures."""
        return day_rows(
            self.view, "agent_id", company_id, days, queue_ids=queue_ids, agent_id=agent_id
        )

    def backlog(
        self, company_id: UUID, now: datetime, *, queue_ids: Collection[UUID] | None = None
    ) -> list[Row]:
        """Per queue: the interactions waiting in it at `now`, by age since arrival."""
        return backlog_rows(self.view, company_id, now, queue_ids=queue_ids)
