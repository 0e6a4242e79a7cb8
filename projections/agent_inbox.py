"""Agent inbox: what each agent holds (active, parked) or is being offered."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from domain.interaction import Interaction
from projections.base import Projection, Row, Table, Tx, handles

STATE_ORDER = "CASE state WHEN 'active' THEN 0 WHEN 'parked' THEN 1 ELSE 2 END"


class AgentInbox(Projection):
    """Rows (agent, interaction, state) for `GET /v1/agents/{aid}/inbox`."""

    name = "agent_inbox"
    tables = (
        Table(
            "items",
            "agent_id TEXT NOT NULL, interaction_id TEXT NOT NULL, "
            "company_id TEXT NOT NULL, state TEXT NOT NULL, since TEXT NOT NULL, "
            "subject TEXT NOT NULL, customer TEXT NOT NULL, queue_id TEXT, "
            "unread INTEGER NOT NULL",
            "agent_id, interaction_id",
            ("interaction_id",),
        ),
        Table(
            "interactions",
            "interaction_id TEXT NOT NULL, company_id TEXT NOT NULL, "
            "subject TEXT NOT NULL, customer TEXT NOT NULL, queue_id TEXT, "
            "unread INTEGER NOT NULL",
            "interaction_id",
        ),
    )

    @handles(Interaction.Received)
    def _received(self, tx: Tx, e: Interaction.Received, position: int) -> None:
        self._remember(tx, e, e.message["sender"], None, unread=True)

    @handles(Interaction.Started)
    def _started(self, tx: Tx, e: Interaction.Started, position: int) -> None:
        to = e.message["to"]
        self._remember(tx, e, to[0] if to else "", e.queue_id, unread=False)
        self._hold(tx, e.originator_id, e.agent_id, "active", e.timestamp)

    @handles(Interaction.Routed)
    def _routed(self, tx: Tx, e: Interaction.Routed, position: int) -> None:
        self._change(tx, e.originator_id, queue_id=e.queue_id)

    @handles(Interaction.Offered)
    def _offered(self, tx: Tx, e: Interaction.Offered, position: int) -> None:
        self._hold(tx, e.originator_id, e.agent_id, "offered", e.timestamp)

    @handles(Interaction.OfferRejected, Interaction.OfferExpired)
    def _offer_ended(self, tx: Tx, e: Any, position: int) -> None:
        items = tx.rows("items", "interaction_id")
        item = items.get(e.originator_id)
        if item is not None and item["state"] == "offered":
            items.delete(e.originator_id)

    @handles(Interaction.Accepted)
    def _accepted(self, tx: Tx, e: Interaction.Accepted, position: int) -> None:
        self._change(tx, e.originator_id, unread=False)
        if e.agent_id is not None:
            self._hold(tx, e.originator_id, e.agent_id, "active", e.timestamp)

    @handles(Interaction.Parked)
    def _parked(self, tx: Tx, e: Interaction.Parked, position: int) -> None:
        tx.rows("items", "interaction_id").update(
            e.originator_id, state="parked", since=e.timestamp
        )

    @handles(Interaction.Resumed)
    def _resumed(self, tx: Tx, e: Interaction.Resumed, position: int) -> None:
        tx.rows("items", "interaction_id").update(
            e.originator_id, state="active", since=e.timestamp
        )

    @handles(Interaction.Transferred)
    def _transferred(self, tx: Tx, e: Interaction.Transferred, position: int) -> None:
        self._change(tx, e.originator_id, queue_id=e.queue_id)
        if e.to_agent_id is None:
            self._release(tx, e.originator_id)
        else:
            self._hold(tx, e.originator_id, e.to_agent_id, "parked", e.timestamp)

    @handles(Interaction.ReturnedToQueue, Interaction.Closed)
    def _released(self, tx: Tx, e: Any, position: int) -> None:
        self._release(tx, e.originator_id)

    @handles(Interaction.Reopened)
    def _reopened(self, tx: Tx, e: Interaction.Reopened, position: int) -> None:
        if e.agent_id is None:
            self._change(tx, e.originator_id, unread=True)
            self._release(tx, e.originator_id)
        else:
            self._hold(tx, e.originator_id, e.agent_id, "active", e.timestamp)

    @handles(Interaction.MessageReceived, Interaction.BounceReceived, Interaction.MarkedUnread)
    def _unread(self, tx: Tx, e: Any, position: int) -> None:
        self._change(tx, e.originator_id, unread=True)

    @handles(Interaction.MarkedRead)
    def _read(self, tx: Tx, e: Interaction.MarkedRead, position: int) -> None:
        self._change(tx, e.originator_id, unread=False)

    def prefetch(self, tx: Tx, domain_events: Sequence[Any]) -> None:
        ids = {e.originator_id for e in domain_events}
        tx.rows("interactions").load(ids)
        tx.rows("items", "interaction_id").load(ids)

    def _remember(
        self, tx: Tx, e: Any, customer: str, queue_id: UUID | None, *, unread: bool
    ) -> None:
        tx.rows("interactions").insert(
            {
                "interaction_id": e.originator_id,
                "company_id": e.company_id,
                "subject": e.message["subject"],
                "customer": customer,
                "queue_id": queue_id,
                "unread": unread,
            }
        )

    def _hold(
        self, tx: Tx, interaction_id: UUID, agent_id: UUID, state: str, since: datetime
    ) -> None:
        """An interaction sits in at most one agent's inbox: this one, from now on."""
        interaction = tx.rows("interactions").get(interaction_id)
        if interaction is None:
            self._release(tx, interaction_id)
            return
        tx.rows("items", "interaction_id").put(
            {**interaction, "agent_id": agent_id, "state": state, "since": since}
        )

    def _release(self, tx: Tx, interaction_id: UUID) -> None:
        tx.rows("items", "interaction_id").delete(interaction_id)

    def _change(self, tx: Tx, interaction_id: UUID, **columns: Any) -> None:
        """The interaction's queue or unread flag, wherever it sits."""
        tx.rows("interactions").update(interaction_id, **columns)
        tx.rows("items", "interaction_id").update(interaction_id, **columns)

    def items(self, agent_id: UUID) -> list[Row]:
        """Active first, then parked, then offered; oldest first within each."""
        rows = self.view.select(
            "SELECT interaction_id, company_id, state, since, subject, customer, queue_id, "
            f"unread FROM {{items}} WHERE agent_id = ? ORDER BY {STATE_ORDER}, since, "
            "interaction_id",
            agent_id,
        )
        return [{**row, "agent_id": str(agent_id), "unread": bool(row["unread"])} for row in rows]
