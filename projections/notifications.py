"""What agents and supervisors are told as it happens, published once per event.

Whichever worker commits a page publishes its notes after the commit, so
several workers never publish the same event twice (a crash between commit and publish loses
those notes; streams are a convenience, the inbox and waiting list are the record). It keeps
what the events themselves do not carry: each interaction's company, queue and owner, and who
was offered it, to tell them when someone else took it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

from adapters.notifier import Note
from domain.interaction import Interaction
from projections.base import Projection, Table, Tx, handles

Publish = Callable[[Sequence[Note]], None]


class Notifications(Projection):
    """Turns interaction events into notes for agents' and queues' streams."""

    name = "notifications"
    tables = (
        Table(
            "interactions",
            "interaction_id TEXT NOT NULL, company_id TEXT NOT NULL, queue_id TEXT, owner TEXT",
            "interaction_id",
        ),
        Table(
            "seen",
            "interaction_id TEXT NOT NULL, agent_id TEXT NOT NULL",
            "interaction_id, agent_id",
        ),
    )
    publisher: Publish | None = None  # set by whoever runs it: `notifier.publish`

    def process_batch(
        self, events_with_ids: Sequence[tuple[Any, int]], *, position: int | None = None
    ) -> int | None:
        self._notes: list[Note] = []
        return super().process_batch(events_with_ids, position=position)

    def after_commit(self, applied: Sequence[tuple[Any, int]]) -> None:
        if self._notes and self.publisher is not None:
            self.publisher(self._notes)

    @handles(Interaction.Received)
    def _received(self, tx: Tx, e: Interaction.Received, position: int) -> None:
        tx.insert("interactions", interaction_id=e.originator_id, company_id=e.company_id)

    @handles(Interaction.Started)
    def _started(self, tx: Tx, e: Interaction.Started, position: int) -> None:
        tx.insert(
            "interactions",
            interaction_id=e.originator_id,
            company_id=e.company_id,
            queue_id=e.queue_id,
            owner=e.agent_id,
        )

    @handles(Interaction.Routed)
    def _routed(self, tx: Tx, e: Interaction.Routed, position: int) -> None:
        self._waiting(tx, e, position, e.queue_id)

    @handles(Interaction.Offered)
    def _offered(self, tx: Tx, e: Interaction.Offered, position: int) -> None:
        tx.execute(
            "INSERT INTO {seen} (interaction_id, agent_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
            e.originator_id,
            e.agent_id,
        )
        self._note(tx, e, position, "offered", [e.agent_id], rule=e.reason.get("rule"))

    @handles(Interaction.OfferRejected, Interaction.OfferExpired)
    def _withdrawn(self, tx: Tx, e: Any, position: int) -> None:
        why = "rejected" if isinstance(e, Interaction.OfferRejected) else "expired"
        agents = [] if e.agent_id is None else [e.agent_id]
        self._note(tx, e, position, "offer_withdrawn", agents, reason=why)

    @handles(Interaction.Accepted)
    def _accepted(self, tx: Tx, e: Interaction.Accepted, position: int) -> None:
        others = [
            UUID(row["agent_id"])
            for row in tx.execute(
                "SELECT agent_id FROM {seen} WHERE interaction_id = ? ORDER BY agent_id",
                e.originator_id,
            ).all()
            if row["agent_id"] != str(e.agent_id)
        ]
        self._set(tx, e.originator_id, owner=e.agent_id)
        self._note(tx, e, position, "taken", others, by=str(e.agent_id))
        tx.execute("DELETE FROM {seen} WHERE interaction_id = ?", e.originator_id)

    @handles(Interaction.MessageReceived)
    def _message(self, tx: Tx, e: Interaction.MessageReceived, position: int) -> None:
        row = self._row(tx, e.originator_id)
        owners = [] if row is None or row["owner"] is None else [UUID(row["owner"])]
        self._note(tx, e, position, "message_received", owners, subject=e.message["subject"])

    @handles(Interaction.NoteAdded)
    def _note_added(self, tx: Tx, e: Interaction.NoteAdded, position: int) -> None:
        """A note addressed to one agent tells that agent (the text stays in the thread)."""
        if e.for_agent_id is not None:
            self._note(tx, e, position, "note_for_you", [e.for_agent_id], note_id=str(e.note_id))

    @handles(Interaction.Transferred)
    def _transferred(self, tx: Tx, e: Interaction.Transferred, position: int) -> None:
        if e.to_agent_id is None:
            self._waiting(tx, e, position, e.to_queue_id)
            return
        self._set(tx, e.originator_id, owner=e.to_agent_id, queue_id=e.queue_id)
        origin = None if e.from_agent_id is None else str(e.from_agent_id)
        self._note(tx, e, position, "transferred", [e.to_agent_id], from_agent_id=origin)

    @handles(Interaction.ReturnedToQueue)
    def _returned(self, tx: Tx, e: Interaction.ReturnedToQueue, position: int) -> None:
        self._waiting(tx, e, position, e.queue_id)

    @handles(Interaction.Closed)
    def _closed(self, tx: Tx, e: Interaction.Closed, position: int) -> None:
        self._set(tx, e.originator_id, owner=None)
        tx.execute("DELETE FROM {seen} WHERE interaction_id = ?", e.originator_id)
        self._note(tx, e, position, "closed", [], actor=e.actor)

    @handles(Interaction.Reopened)
    def _reopened(self, tx: Tx, e: Interaction.Reopened, position: int) -> None:
        if e.agent_id is None:
            self._waiting(tx, e, position, e.queue_id)
        else:
            self._set(tx, e.originator_id, owner=e.agent_id)

    def _waiting(self, tx: Tx, e: Any, position: int, queue_id: UUID | None) -> None:
        self._set(tx, e.originator_id, owner=None, queue_id=queue_id)
        self._note(tx, e, position, "waiting", [], actor=e.actor)

    def _set(self, tx: Tx, interaction_id: UUID, **values: Any) -> None:
        assignments = ", ".join(f"{column} = ?" for column in values)
        tx.execute(
            f"UPDATE {{interactions}} SET {assignments} WHERE interaction_id = ?",
            *values.values(),
            interaction_id,
        )

    def _row(self, tx: Tx, interaction_id: UUID) -> dict[str, Any] | None:
        return tx.execute(
            "SELECT company_id, queue_id, owner FROM {interactions} WHERE interaction_id = ?",
            interaction_id,
        ).one()

    def _note(
        self, tx: Tx, e: Any, position: int, kind: str, agents: Sequence[UUID], **data: Any
    ) -> None:
        row = self._row(tx, e.originator_id)
        if row is None:  # an interaction this view never saw arrive (e.g. after a rebuild)
            return
        queue_id = None if row["queue_id"] is None else UUID(row["queue_id"])
        data = {"interaction_id": str(e.originator_id), "at": e.timestamp.isoformat(), **data}
        self._notes.append(
            Note(UUID(row["company_id"]), kind, position, tuple(agents), queue_id, data)
        )
