"""Queue waiting list: interactions queued or offered in a queue, oldest waiting first."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from domain.interaction import Interaction
from projections.base import Projection, Row, Table, Tx, handles

MAX_ITEMS = 500


class QueueWaiting(Projection):
    """Rows for `GET /v1/queues/{qid}/waiting`."""

    name = "queue_waiting"
    tables = (
        Table(
            "items",
            "interaction_id TEXT NOT NULL, queue_id TEXT NOT NULL, "
            "company_id TEXT NOT NULL, waiting_since TEXT NOT NULL, arrived_at TEXT NOT NULL, "
            "subject TEXT NOT NULL, customer TEXT NOT NULL, offered_to TEXT, "
            "unread INTEGER NOT NULL",
            "interaction_id",
            ("queue_id, waiting_since, interaction_id",),
        ),
        Table(
            "interactions",
            "interaction_id TEXT NOT NULL, company_id TEXT NOT NULL, "
            "arrived_at TEXT NOT NULL, subject TEXT NOT NULL, customer TEXT NOT NULL, "
            "unread INTEGER NOT NULL",
            "interaction_id",
        ),
    )

    @handles(Interaction.Received)
    def _received(self, tx: Tx, e: Interaction.Received, position: int) -> None:
        self._remember(
            tx,
            e.originator_id,
            e.company_id,
            e.timestamp,
            e.message["subject"],
            e.message["sender"],
            unread=True,
        )

    @handles(Interaction.Started)
    def _started(self, tx: Tx, e: Interaction.Started, position: int) -> None:
        to = e.message["to"]
        self._remember(
            tx,
            e.originator_id,
            e.company_id,
            e.timestamp,
            e.message["subject"],
            to[0] if to else "",
            unread=False,
        )

    @handles(Interaction.Routed)
    def _routed(self, tx: Tx, e: Interaction.Routed, position: int) -> None:
        self._wait(tx, e.originator_id, e.queue_id, e.timestamp)

    @handles(Interaction.Offered)
    def _offered(self, tx: Tx, e: Interaction.Offered, position: int) -> None:
        tx.rows("items").update(e.originator_id, offered_to=e.agent_id)

    @handles(Interaction.OfferRejected, Interaction.OfferExpired)
    def _offer_ended(self, tx: Tx, e: Any, position: int) -> None:
        tx.rows("items").update(e.originator_id, offered_to=None)

    @handles(Interaction.Accepted)
    def _accepted(self, tx: Tx, e: Interaction.Accepted, position: int) -> None:
        self._set_unread(tx, e.originator_id, unread=False)
        self._leave(tx, e.originator_id)

    @handles(Interaction.Closed)
    def _closed(self, tx: Tx, e: Interaction.Closed, position: int) -> None:
        self._leave(tx, e.originator_id)

    @handles(Interaction.Transferred)
    def _transferred(self, tx: Tx, e: Interaction.Transferred, position: int) -> None:
        if e.to_queue_id is None:
            self._leave(tx, e.originator_id)
        else:
            self._wait(tx, e.originator_id, e.to_queue_id, e.timestamp)

    @handles(Interaction.ReturnedToQueue)
    def _returned(self, tx: Tx, e: Interaction.ReturnedToQueue, position: int) -> None:
        self._wait(tx, e.originator_id, e.queue_id, e.timestamp)

    @handles(Interaction.Reopened)
    def _reopened(self, tx: Tx, e: Interaction.Reopened, position: int) -> None:
        if e.agent_id is None:
            self._set_unread(tx, e.originator_id, unread=True)
            self._wait(tx, e.originator_id, e.queue_id, e.timestamp)
        else:
            self._leave(tx, e.originator_id)

    @handles(Interaction.MessageReceived, Interaction.BounceReceived, Interaction.MarkedUnread)
    def _unread(self, tx: Tx, e: Any, position: int) -> None:
        self._set_unread(tx, e.originator_id, unread=True)

    @handles(Interaction.MarkedRead)
    def _read(self, tx: Tx, e: Interaction.MarkedRead, position: int) -> None:
        self._set_unread(tx, e.originator_id, unread=False)

    def prefetch(self, tx: Tx, domain_events: Sequence[Any]) -> None:
        ids = {e.originator_id for e in domain_events}
        tx.rows("interactions").load(ids)
        tx.rows("items").load(ids)

    def _remember(
        self,
        tx: Tx,
        interaction_id: UUID,
        company_id: UUID,
        arrived_at: datetime,
        subject: str,
        customer: str,
        *,
        unread: bool,
    ) -> None:
        tx.rows("interactions").insert(
            {
                "interaction_id": interaction_id,
                "company_id": company_id,
                "arrived_at": arrived_at,
                "subject": subject,
                "customer": customer,
                "unread": unread,
            }
        )

    def _wait(self, tx: Tx, interaction_id: UUID, queue_id: UUID | None, since: datetime) -> None:
        interaction = tx.rows("interactions").get(interaction_id)
        if queue_id is None or interaction is None:
            self._leave(tx, interaction_id)
            return
        tx.rows("items").put(
            {
                **interaction,
                "queue_id": queue_id,
                "waiting_since": since,
                "offered_to": None,
            }
        )

    def _leave(self, tx: Tx, interaction_id: UUID) -> None:
        tx.rows("items").delete(interaction_id)

    def _set_unread(self, tx: Tx, interaction_id: UUID, *, unread: bool) -> None:
        tx.rows("interactions").update(interaction_id, unread=unread)
        tx.rows("items").update(interaction_id, unread=unread)

    def items(self, queue_id: UUID, limit: int = 100) -> list[Row]:
        """Waiting longest first."""
        rows = self.view.select(
            "SELECT interaction_id, queue_id, company_id, waiting_since, arrived_at, subject, "
            "customer, offered_to, unread FROM {items} WHERE queue_id = ? "
            "ORDER BY waiting_since, interaction_id LIMIT ?",
            queue_id,
            max(1, min(limit, MAX_ITEMS)),
        )
        return [{**row, "unread": bool(row["unread"])} for row in rows]
