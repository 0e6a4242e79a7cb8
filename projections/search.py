"""Search: one row per interaction for lists, filters, free text and `[#REF]` threading.

`unread_count` counts the inbound messages (the customer's, or a bounce report) since an
agent last read the interaction: accepting it or marking it read resets it, marking it
unread (or reopening it to its queue) makes it at least 1. `owner` stays the agent who owned
it when it was closed. See `projections.search_text` for what free text finds.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from domain.ids import short_ref
from domain.interaction import Interaction
from domain.messages import MessageInfo
from projections.base import Projection, Table, Tx, handles, to_json
from projections.search_reads import SearchReads
from projections.search_text import fold, index_words, with_message

COLUMNS = (
    "interaction_id TEXT NOT NULL, company_id TEXT NOT NULL, short_ref TEXT NOT NULL, "
    "mailbox TEXT NOT NULL, status TEXT NOT NULL, queue_id TEXT, owner TEXT, first_agent TEXT, "
    "subject TEXT NOT NULL, subject_key TEXT NOT NULL, customer TEXT NOT NULL, "
    "customer_name TEXT NOT NULL, customer_name_key TEXT NOT NULL, created_at TEXT NOT NULL, "
    "created_position BIGINT NOT NULL, last_activity_at TEXT NOT NULL, unread INTEGER NOT NULL, "
    "unread_count INTEGER NOT NULL, substatus TEXT, disposition TEXT, disposition_key TEXT, "
    "handling_ms BIGINT NOT NULL, last_direction TEXT NOT NULL, snippet TEXT NOT NULL"
)
AT_LEAST_ONE = "CASE WHEN unread_count > 0 THEN unread_count ELSE 1 END"
ACTIVITY_ONLY = (
    Interaction.ReplySent,
    Interaction.ForwardSent,
    Interaction.SendFailed,
    Interaction.NoteAdded,
    Interaction.DraftSaved,
    Interaction.DraftDiscarded,
    Interaction.ContinuedIn,
    Interaction.AutoReplyQueued,  # automatic mail never counts as the last message
    Interaction.AutoReplySent,
)


def searchable(*texts: str) -> str:
    return "\x1f".join(texts).casefold()


def counterpart(message: MessageInfo) -> tuple[str, str]:
    """The customer's address and name: who wrote in, or to whom we wrote first."""
    if message["direction"] == "in":
        return message["sender"], message["sender_name"]
    return (message["to"][0] if message["to"] else ""), ""


def message_text(message: MessageInfo) -> str:
    """The text events carry (older events only have the snippet)."""
    return message.get("text", message["snippet"])


class Search(SearchReads, Projection):
    """Interactions by company, newest activity first, with keyset pagination."""

    name = "search"
    tables = (
        Table(
            "interactions",
            COLUMNS,
            "interaction_id",
            (
                "company_id, last_activity_at, interaction_id",
                "company_id, short_ref",
                "company_id, status, last_activity_at",
                "company_id, owner, last_activity_at",
                "company_id, queue_id, last_activity_at",
                "company_id, created_at",
                "company_id, customer",
            ),
        ),
        Table(
            "tags",
            "interaction_id TEXT NOT NULL, tag TEXT NOT NULL",
            "interaction_id, tag",
            ("tag",),
        ),
        Table(
            "texts",
            "interaction_id TEXT NOT NULL, company_id TEXT NOT NULL, message_text TEXT NOT NULL",
            "interaction_id",
            postgres_columns="search_vector tsvector",
            postgres_indexes=("USING GIN (search_vector)",),
        ),
    )

    @handles(Interaction.Received)
    def _received(self, tx: Tx, e: Interaction.Received, position: int) -> None:
        self._create(tx, e, position, status="received", unread=True, unread_count=1)

    @handles(Interaction.Started)
    def _started(self, tx: Tx, e: Interaction.Started, position: int) -> None:
        self._create(
            tx,
            e,
            position,
            status="active",
            queue_id=e.queue_id,
            owner=e.agent_id,
            first_agent=e.agent_id,
            unread=False,
            unread_count=0,
        )

    def _create(self, tx: Tx, e: Any, position: int, **columns: Any) -> None:
        message = e.message
        customer, name = counterpart(message)
        customer = customer.casefold()
        tx.insert(
            "interactions",
            interaction_id=e.originator_id,
            company_id=e.company_id,
            short_ref=short_ref(e.originator_id),
            mailbox=e.mailbox.casefold(),
            subject=message["subject"],
            subject_key=fold(message["subject"]),
            customer=customer,
            customer_name=name,
            customer_name_key=fold(name),
            created_at=e.timestamp,
            created_position=position,
            last_activity_at=e.timestamp,
            handling_ms=0,
            last_direction=message["direction"],
            snippet=message["snippet"],
            **columns,
        )
        text = with_message("", message_text(message))
        tx.insert(
            "texts", interaction_id=e.originator_id, company_id=e.company_id, message_text=text
        )
        self._index_words(tx, e.originator_id, fold(message["subject"]), customer, fold(name), text)

    def _index_words(self, tx: Tx, interaction_id: UUID, *texts: str) -> None:
        if tx.dialect == "postgres":
            tx.execute(
                "UPDATE {texts} SET search_vector = to_tsvector('simple', ?) "
                "WHERE interaction_id = ?",
                index_words(*texts),
                interaction_id,
            )

    @handles(Interaction.Routed)
    def _routed(self, tx: Tx, e: Interaction.Routed, position: int) -> None:
        self._set(tx, e, status="queued", queue_id=e.queue_id, owner=None)

    @handles(Interaction.ReturnedToQueue)
    def _returned(self, tx: Tx, e: Interaction.ReturnedToQueue, position: int) -> None:
        self._add_handling(tx, e)
        self._set(tx, e, status="queued", queue_id=e.queue_id, owner=None)

    @handles(Interaction.Offered)
    def _offered(self, tx: Tx, e: Interaction.Offered, position: int) -> None:
        self._set(tx, e, status="offered")

    @handles(Interaction.OfferRejected, Interaction.OfferExpired)
    def _offer_ended(self, tx: Tx, e: Any, position: int) -> None:
        self._set(tx, e, status="queued")

    @handles(Interaction.Accepted)
    def _accepted(self, tx: Tx, e: Interaction.Accepted, position: int) -> None:
        tx.execute(
            "UPDATE {interactions} SET first_agent = COALESCE(first_agent, ?) "
            "WHERE interaction_id = ?",
            e.agent_id,
            e.originator_id,
        )
        self._set(tx, e, status="active", owner=e.agent_id, unread=False, unread_count=0)

    @handles(Interaction.Parked)
    def _parked(self, tx: Tx, e: Interaction.Parked, position: int) -> None:
        self._add_handling(tx, e)
        self._set(tx, e, status="parked")

    @handles(Interaction.Resumed)
    def _resumed(self, tx: Tx, e: Interaction.Resumed, position: int) -> None:
        self._set(tx, e, status="active")

    @handles(
        Interaction.ReplyQueued,
        Interaction.ForwardQueued,
        Interaction.MessageReceived,
        Interaction.BounceReceived,
    )
    def _message(self, tx: Tx, e: Any, position: int) -> None:
        row = tx.execute(
            "SELECT i.subject_key, i.customer, i.customer_name_key, t.message_text "
            "FROM {interactions} i JOIN {texts} t ON t.interaction_id = i.interaction_id "
            "WHERE i.interaction_id = ?",
            e.originator_id,
        ).one()
        if row is None:
            raise LookupError(f"interaction {e.originator_id} was never created")
        text = with_message(row["message_text"], message_text(e.message))
        tx.execute(
            "UPDATE {texts} SET message_text = ? WHERE interaction_id = ?", text, e.originator_id
        )
        head = (row["subject_key"], row["customer"], row["customer_name_key"])
        self._index_words(tx, e.originator_id, *head, text)
        changes: dict[str, Any] = {"last_direction": e.message["direction"]}
        inbound = isinstance(e, Interaction.MessageReceived | Interaction.BounceReceived)
        if inbound:
            changes["unread"] = True
        counted = "unread_count = unread_count + 1" if inbound else ""
        self._set(tx, e, counted, snippet=e.message["snippet"], **changes)

    @handles(Interaction.Transferred)
    def _transferred(self, tx: Tx, e: Interaction.Transferred, position: int) -> None:
        self._add_handling(tx, e)
        if e.to_agent_id is None:
            self._set(tx, e, status="queued", queue_id=e.to_queue_id, owner=None)
        else:
            self._set(tx, e, status="parked", owner=e.to_agent_id)

    @handles(Interaction.SubstatusSet)
    def _substatus_set(self, tx: Tx, e: Interaction.SubstatusSet, position: int) -> None:
        self._set(tx, e, substatus=e.substatus)

    @handles(Interaction.SubstatusCleared)
    def _substatus_cleared(self, tx: Tx, e: Any, position: int) -> None:
        self._set(tx, e, substatus=None)

    @handles(Interaction.Tagged)
    def _tagged(self, tx: Tx, e: Interaction.Tagged, position: int) -> None:
        tx.execute(
            "INSERT INTO {tags} (interaction_id, tag) VALUES (?, ?) "
            "ON CONFLICT (interaction_id, tag) DO NOTHING",
            e.originator_id,
            e.tag,
        )
        self._set(tx, e)

    @handles(Interaction.Untagged)
    def _untagged(self, tx: Tx, e: Interaction.Untagged, position: int) -> None:
        tx.execute(
            "DELETE FROM {tags} WHERE interaction_id = ? AND tag = ?", e.originator_id, e.tag
        )
        self._set(tx, e)

    @handles(Interaction.MarkedUnread)
    def _marked_unread(self, tx: Tx, e: Interaction.MarkedUnread, position: int) -> None:
        self._set(tx, e, f"unread_count = {AT_LEAST_ONE}", unread=True)

    @handles(Interaction.MarkedRead)
    def _marked_read(self, tx: Tx, e: Interaction.MarkedRead, position: int) -> None:
        self._set(tx, e, unread=False, unread_count=0)

    @handles(Interaction.Closed)
    def _closed(self, tx: Tx, e: Interaction.Closed, position: int) -> None:
        self._add_handling(tx, e)
        path = to_json(e.disposition)
        key = fold(" / ".join(e.disposition))
        self._set(tx, e, status="closed", disposition=path, disposition_key=key)

    @handles(Interaction.Reopened)
    def _reopened(self, tx: Tx, e: Interaction.Reopened, position: int) -> None:
        cleared: dict[str, Any] = {"disposition": None, "disposition_key": None, "substatus": None}
        if e.agent_id is None:
            unread = f"unread_count = {AT_LEAST_ONE}"
            queued = {"status": "queued", "queue_id": e.queue_id, "owner": None, "unread": True}
            self._set(tx, e, unread, **queued, **cleared)
        else:
            self._set(tx, e, status="active", owner=e.agent_id, **cleared)

    @handles(*ACTIVITY_ONLY)
    def _activity(self, tx: Tx, e: Any, position: int) -> None:
        self._set(tx, e)

    def _set(self, tx: Tx, e: Any, expression: str = "", **columns: Any) -> None:
        """Assigns the columns and the `expression` (both from this module, never from
        input) and the activity."""
        columns["last_activity_at"] = e.timestamp
        assignments = [f"{name} = ?" for name in columns]
        if expression:
            assignments.append(expression)
        tx.execute(
            f"UPDATE {{interactions}} SET {', '.join(assignments)} WHERE interaction_id = ?",
            *columns.values(),
            e.originator_id,
        )

    def _add_handling(self, tx: Tx, e: Any) -> None:
        if e.segment_ms:
            tx.execute(
                "UPDATE {interactions} SET handling_ms = handling_ms + ? WHERE interaction_id = ?",
                e.segment_ms,
                e.originator_id,
            )
