"""The dispatch board's work side: waiting email, standing offers, rejections in this round,
the last agent of each sender, and the running timers (parked, disposition, unanswered).

The timers mirror `domain.timers`, which the commands ask again before acting.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from domain.interaction import Interaction
from projections.base import Table, Tx, handles
from projections.dispatch_people import ms

WORK_TABLES = (
    Table(
        "interactions",
        "interaction_id TEXT NOT NULL, company_id TEXT NOT NULL, customer TEXT NOT NULL, "
        "arrived_ms BIGINT NOT NULL, outbound INTEGER NOT NULL, customer_wrote INTEGER NOT NULL, "
        "parked_ms BIGINT, reply_ms BIGINT, awaiting_ms BIGINT",
        "interaction_id",
        ("parked_ms", "reply_ms", "awaiting_ms"),
    ),
    Table(
        "waiting",
        "interaction_id TEXT NOT NULL, company_id TEXT NOT NULL, queue_id TEXT NOT NULL, "
        "arrived_ms BIGINT NOT NULL, customer TEXT NOT NULL, offered_to TEXT, "
        "offered_ms BIGINT, offered_version INTEGER",
        "interaction_id",
        ("queue_id, arrived_ms, interaction_id", "offered_ms"),
    ),
    Table(
        "rejections",
        "interaction_id TEXT NOT NULL, agent_id TEXT NOT NULL",
        "interaction_id, agent_id",
    ),
    Table(
        "handlers",
        "company_id TEXT NOT NULL, customer TEXT NOT NULL, agent_id TEXT NOT NULL, "
        "handled_ms BIGINT NOT NULL",
        "company_id, customer",
    ),
)


class WorkSide:
    """Handlers of interaction events (mixed into `DispatchBoard`)."""

    @handles(Interaction.Received)
    def _received(self, tx: Tx, e: Interaction.Received, position: int) -> None:
        tx.insert(
            "interactions",
            interaction_id=e.originator_id,
            company_id=e.company_id,
            customer=e.message["sender"].casefold(),
            arrived_ms=ms(e.timestamp),
            outbound=False,
            customer_wrote=True,
        )

    @handles(Interaction.Started)
    def _started(self, tx: Tx, e: Interaction.Started, position: int) -> None:
        to = e.message["to"]
        tx.insert(
            "interactions",
            interaction_id=e.originator_id,
            company_id=e.company_id,
            customer=(to[0] if to else "").casefold(),
            arrived_ms=ms(e.timestamp),
            outbound=True,
            customer_wrote=False,
            awaiting_ms=ms(e.timestamp),
        )
        self._handled(tx, e.originator_id, e.agent_id, ms(e.timestamp))

    @handles(Interaction.Routed)
    def _routed(self, tx: Tx, e: Interaction.Routed, position: int) -> None:
        self._wait(tx, e.originator_id, e.queue_id)

    @handles(Interaction.Offered)
    def _offered(self, tx: Tx, e: Interaction.Offered, position: int) -> None:
        tx.execute(
            "UPDATE {waiting} SET offered_to = ?, offered_ms = ?, offered_version = ? "
            "WHERE interaction_id = ?",
            e.agent_id,
            ms(e.timestamp),
            e.originator_version,
            e.originator_id,
        )

    @handles(Interaction.OfferRejected, Interaction.OfferExpired)
    def _offer_withdrawn(self, tx: Tx, e: Any, position: int) -> None:
        self._settled(tx, e.originator_id)
        tx.execute(
            "UPDATE {waiting} SET offered_to = NULL WHERE interaction_id = ?", e.originator_id
        )
        if e.agent_id is not None:
            tx.insert("rejections", interaction_id=e.originator_id, agent_id=e.agent_id)

    @handles(Interaction.Accepted)
    def _accepted(self, tx: Tx, e: Interaction.Accepted, position: int) -> None:
        self._leave(tx, e.originator_id)
        self._timers(tx, e.originator_id, parked_ms=None, reply_ms=None)
        if e.agent_id is not None:
            self._handled(tx, e.originator_id, e.agent_id, ms(e.timestamp))

    @handles(Interaction.Parked)
    def _parked(self, tx: Tx, e: Interaction.Parked, position: int) -> None:
        self._timers(tx, e.originator_id, parked_ms=ms(e.timestamp))

    @handles(Interaction.Resumed)
    def _resumed(self, tx: Tx, e: Interaction.Resumed, position: int) -> None:
        self._timers(tx, e.originator_id, parked_ms=None)

    @handles(Interaction.ReplyQueued, Interaction.ForwardQueued)
    def _replied(self, tx: Tx, e: Any, position: int) -> None:
        at = ms(e.timestamp)
        tx.execute(
            "UPDATE {interactions} SET "
            "reply_ms = CASE WHEN customer_wrote = 1 THEN ? ELSE reply_ms END, "
            "awaiting_ms = CASE WHEN customer_wrote = 0 THEN ? ELSE awaiting_ms END "
            "WHERE interaction_id = ?",
            at,
            at,
            e.originator_id,
        )

    @handles(Interaction.MessageReceived)
    def _customer_wrote(self, tx: Tx, e: Interaction.MessageReceived, position: int) -> None:
        self._timers(tx, e.originator_id, customer_wrote=True, reply_ms=None, awaiting_ms=None)

    @handles(Interaction.Transferred)
    def _transferred(self, tx: Tx, e: Interaction.Transferred, position: int) -> None:
        if e.to_agent_id is None:
            self._wait(tx, e.originator_id, e.to_queue_id)
            self._timers(tx, e.originator_id, parked_ms=None, reply_ms=None)
        else:
            self._leave(tx, e.originator_id)
            self._timers(tx, e.originator_id, parked_ms=ms(e.timestamp), reply_ms=None)
            self._handled(tx, e.originator_id, e.to_agent_id, ms(e.timestamp))

    @handles(Interaction.ReturnedToQueue)
    def _returned(self, tx: Tx, e: Interaction.ReturnedToQueue, position: int) -> None:
        self._wait(tx, e.originator_id, e.queue_id)
        self._timers(tx, e.originator_id, parked_ms=None, reply_ms=None)

    @handles(Interaction.Closed)
    def _closed(self, tx: Tx, e: Interaction.Closed, position: int) -> None:
        self._leave(tx, e.originator_id)
        self._timers(tx, e.originator_id, parked_ms=None, reply_ms=None, awaiting_ms=None)
        if e.agent_id is not None:
            self._handled(tx, e.originator_id, e.agent_id, ms(e.timestamp))

    @handles(Interaction.Reopened)
    def _reopened(self, tx: Tx, e: Interaction.Reopened, position: int) -> None:
        if e.agent_id is None:
            self._wait(tx, e.originator_id, e.queue_id)
        else:
            self._handled(tx, e.originator_id, e.agent_id, ms(e.timestamp))
        tx.execute(
            "UPDATE {interactions} SET "
            "awaiting_ms = CASE WHEN customer_wrote = 0 THEN ? ELSE NULL END "
            "WHERE interaction_id = ?",
            ms(e.timestamp),
            e.originator_id,
        )

    def _wait(self, tx: Tx, interaction_id: UUID, queue_id: UUID | None) -> None:
        """Waiting in `queue_id` from now on, in a new round: nobody has rejected it yet."""
        self._leave(tx, interaction_id)
        if queue_id is None:
            return
        tx.execute(
            "INSERT INTO {waiting} (interaction_id, company_id, queue_id, arrived_ms, customer) "
            "SELECT interaction_id, company_id, ?, arrived_ms, customer FROM {interactions} "
            "WHERE interaction_id = ?",
            queue_id,
            interaction_id,
        )

    def _leave(self, tx: Tx, interaction_id: UUID) -> None:
        self._settled(tx, interaction_id)
        tx.execute("DELETE FROM {waiting} WHERE interaction_id = ?", interaction_id)
        tx.execute("DELETE FROM {rejections} WHERE interaction_id = ?", interaction_id)

    def _settled(self, tx: Tx, interaction_id: UUID) -> None:
        """No offer of this interaction stands any more."""
        tx.execute("UPDATE {agents} SET offer_id = NULL WHERE offer_id = ?", interaction_id)

    def _timers(self, tx: Tx, interaction_id: UUID, **values: Any) -> None:
        assignments = ", ".join(f"{column} = ?" for column in values)
        tx.execute(
            f"UPDATE {{interactions}} SET {assignments} WHERE interaction_id = ?",
            *values.values(),
            interaction_id,
        )

    def _handled(self, tx: Tx, interaction_id: UUID, agent_id: UUID, at: int) -> None:
        """This agent is now the last one who handled the interaction's sender."""
        tx.execute(
            "INSERT INTO {handlers} (company_id, customer, agent_id, handled_ms) "
            "SELECT company_id, customer, ?, ? FROM {interactions} WHERE interaction_id = ? "
            "ON CONFLICT (company_id, customer) DO UPDATE SET agent_id = excluded.agent_id, "
            "handled_ms = excluded.handled_ms",
            agent_id,
            at,
            interaction_id,
        )
