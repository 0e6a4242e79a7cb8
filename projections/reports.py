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

from collections.abc import Collection, Sequence
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from uuid import UUID

from domain.interaction import Interaction
from projections.base import Projection, Row, Table, Tx, handles, iso
from projections.page_rows import RowSet
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
EPOCH_ORDINAL = EPOCH.toordinal()


def hour_of(at: datetime) -> int:
    """Hours since the epoch, UTC: the bucket of an event."""
    if at.tzinfo is UTC:  # events' times: no timedelta arithmetic needed
        return (at.toordinal() - EPOCH_ORDINAL) * 24 + at.hour
    return (at - EPOCH) // HOUR


def elapsed_ms(start: datetime, end: datetime) -> int:
    return round((end - start) / MILLISECOND)


@lru_cache(maxsize=1 << 16)
def _text(value: UUID | str) -> str:
    """An id as stored; the few companies, queues and agents recur on every event."""
    return str(value)


def _id(value: UUID | str | None) -> str:
    return UNASSIGNED if value is None else _text(value)


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

    def prefetch(self, tx: Tx, domain_events: Sequence[Any]) -> None:
        handled = self.handlers
        _rows(tx).load(_text(e.originator_id) for e in domain_events if type(e) in handled)

    @handles(Interaction.Received)
    def _received(self, tx: Tx, e: Interaction.Received, position: int) -> None:
        self._remember(tx, e.originator_id, e.company_id, None, e.timestamp, inbound=True)

    @handles(Interaction.Started)
    def _started(self, tx: Tx, e: Interaction.Started, position: int) -> None:
        self._remember(tx, e.originator_id, e.company_id, e.queue_id, e.timestamp, inbound=False)

    @handles(Interaction.Routed)
    def _routed(self, tx: Tx, e: Interaction.Routed, position: int) -> None:
        state = _state(tx, e.originator_id)
        queue, arrived_at = _text(e.queue_id), datetime.fromisoformat(state["arrived_at"])
        _add(tx, state, hour_of(arrived_at), "received", queue=queue)
        _change(tx, state, queue_id=queue, **_waiting(state, queue, e.timestamp))

    @handles(Interaction.Offered)
    def _offered(self, tx: Tx, e: Interaction.Offered, position: int) -> None:
        state = _state(tx, e.originator_id)
        queue = e.queue_id or state["queue_id"]
        _add(tx, state, hour_of(e.timestamp), "offers", queue=queue, agent=e.agent_id)

    @handles(Interaction.OfferRejected)
    def _offer_rejected(self, tx: Tx, e: Interaction.OfferRejected, position: int) -> None:
        state = _state(tx, e.originator_id)
        _add(tx, state, hour_of(e.timestamp), "rejections", agent=e.agent_id)

    @handles(Interaction.OfferExpired)
    def _offer_expired(self, tx: Tx, e: Interaction.OfferExpired, position: int) -> None:
        state = _state(tx, e.originator_id)
        _add(tx, state, hour_of(e.timestamp), "expiries", agent=e.agent_id)

    @handles(Interaction.Accepted)
    def _accepted(self, tx: Tx, e: Interaction.Accepted, position: int) -> None:
        state = _state(tx, e.originator_id)
        queue, hour = e.queue_id or state["queue_id"], hour_of(e.timestamp)
        _add(tx, state, hour, "accepted", queue=queue, agent=e.agent_id)
        if state["waiting_since"] is not None:
            waited = elapsed_ms(datetime.fromisoformat(state["waiting_since"]), e.timestamp)
            _add(tx, state, hour, "queue_wait_ms", waited, queue=queue, agent=e.agent_id)
        _change(tx, state, **_waiting(state, None, None))

    @handles(Interaction.Parked)
    def _parked(self, tx: Tx, e: Interaction.Parked, position: int) -> None:
        state = _state(tx, e.originator_id)
        _add(tx, state, hour_of(e.timestamp), "handling_ms", e.segment_ms, agent=e.agent_id)

    @handles(Interaction.ReplyQueued)
    def _reply_queued(self, tx: Tx, e: Interaction.ReplyQueued, position: int) -> None:
        state = _state(tx, e.originator_id)
        if not state["inbound"] or state["replied"]:
            return
        waited = elapsed_ms(datetime.fromisoformat(state["arrived_at"]), e.timestamp)
        hour = hour_of(e.timestamp)
        _add(tx, state, hour, "first_responses", agent=e.agent_id)
        _add(tx, state, hour, "first_response_ms", waited, agent=e.agent_id)
        _change(tx, state, replied=1)

    @handles(Interaction.Transferred)
    def _transferred(self, tx: Tx, e: Interaction.Transferred, position: int) -> None:
        state = _state(tx, e.originator_id)
        agent, hour = e.from_agent_id, hour_of(e.timestamp)
        _add(tx, state, hour, "handling_ms", e.segment_ms, agent=agent)
        _add(tx, state, hour, "transfers", agent=agent)
        since = None if e.to_queue_id is None else e.timestamp
        _change(tx, state, queue_id=_id(e.queue_id), **_waiting(state, e.to_queue_id, since))

    @handles(Interaction.ReturnedToQueue)
    def _returned(self, tx: Tx, e: Interaction.ReturnedToQueue, position: int) -> None:
        state = _state(tx, e.originator_id)
        queue = e.queue_id or state["queue_id"]
        hour = hour_of(e.timestamp)
        _add(tx, state, hour, "handling_ms", e.segment_ms, queue=queue, agent=e.agent_id)
        _change(tx, state, **_waiting(state, queue, e.timestamp))

    @handles(Interaction.Closed)
    def _closed(self, tx: Tx, e: Interaction.Closed, position: int) -> None:
        state = _state(tx, e.originator_id)
        queue, agent, hour = e.queue_id or state["queue_id"], e.agent_id, hour_of(e.timestamp)
        _add(tx, state, hour, "handling_ms", e.segment_ms, queue=queue, agent=agent)
        _add(tx, state, hour, "closed", queue=queue, agent=agent)
        path = CLOSED_AS + " / ".join(e.disposition)
        _add(tx, state, hour, path, queue=queue, agent=agent)
        _change(tx, state, **_waiting(state, None, None))

    @handles(Interaction.Reopened)
    def _reopened(self, tx: Tx, e: Interaction.Reopened, position: int) -> None:
        state = _state(tx, e.originator_id)
        queue = e.queue_id or state["queue_id"]
        _add(tx, state, hour_of(e.timestamp), "reopened", queue=queue, agent=e.agent_id)
        if e.agent_id is None:
            _change(tx, state, **_waiting(state, queue, e.timestamp))

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
        rows, key = _rows(tx), _text(interaction_id)
        if rows.get(key) is not None:  # as the table's primary key would refuse it
            raise ValueError(f"interaction {interaction_id} was received or started twice")
        rows.insert(
            {
                "interaction_id": key,
                "company_id": _text(company_id),
                "queue_id": _id(queue_id),
                "arrived_at": iso(arrived_at),
                "inbound": int(inbound),
                "replied": 0,
                "waiting_queue_id": None,
                "waiting_since": None,
            }
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


def _rows(tx: Tx) -> RowSet:
    return tx.rows("interactions", "interaction_id")  # the key named: no parsing per call


def _state(tx: Tx, interaction_id: UUID) -> Row:
    row = _rows(tx).get(_text(interaction_id))
    if row is None:
        raise LookupError(f"interaction {interaction_id} was never received or started")
    return row


def _waiting(state: Row, queue_id: UUID | str | None, since: datetime | None) -> Row:
    """The changes for waiting in `queue_id` since `since` (None: not waiting); staying in
    the same waiting list (a new offer round) keeps the time it started waiting."""
    if queue_id is None:
        if state["waiting_queue_id"] is None and state["waiting_since"] is None:
            return {}
        return {"waiting_queue_id": None, "waiting_since": None}
    queue = _text(queue_id)
    if state["waiting_queue_id"] == queue:
        return {}
    return {"waiting_queue_id": queue, "waiting_since": since and iso(since)}


def _change(tx: Tx, state: Row, **changes: Any) -> None:
    """One update of the interaction's row for all of an event's changes."""
    if changes:
        _rows(tx).update(state["interaction_id"], **changes)


def _add(
    tx: Tx,
    state: Row,
    hour: int,
    metric: str,
    value: int = 1,
    *,
    queue: UUID | str | None = None,
    agent: UUID | None = None,
) -> None:
    """Adds to the bucket of `hour`; `queue` defaults to the interaction's own."""
    tx.counters("hourly", "value").add(
        (
            state["company_id"],
            hour,
            state["queue_id"] if queue is None else _text(queue),
            UNASSIGNED if agent is None else _text(agent),
            metric,
        ),
        value,
    )
