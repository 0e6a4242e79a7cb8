"""Search: one row per interaction for lists, filters, free text and `[#REF]` threading.

`unread_count` counts the inbound messages (the customer's, or a bounce report) since an
agent last read the interaction: accepting it or marking it read resets it, marking it
unread (or reopening it to its queue) makes it at least 1. `owner` stays the agent who owned
it when it was closed. See `projections.search_text` for what free text finds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from domain.ids import short_ref
from domain.interaction import Interaction
from domain.messages import MessageInfo
from projections.base import Projection, Row, Table, Tx, handles, to_json
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
INBOUND = (Interaction.MessageReceived, Interaction.BounceReceived)
MESSAGES = (Interaction.ReplyQueued, Interaction.ForwardQueued, *INBOUND)
CREATED = (Interaction.Received, Interaction.Started)
UNSET = dict.fromkeys(
    ("queue_id", "owner", "first_agent", "substatus", "disposition", "disposition_key")
)
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
            computed=(("search_vector", "to_tsvector('simple', ?)"),),
        ),
    )

    @handles(Interaction.Received)
    def _received(self, tx: Tx, e: Interaction.Received, position: int) -> None:
        self._create(tx, e, position, status="received", unread=1, unread_count=1)

    @handles(Interaction.Started)
    def _started(self, tx: Tx, e: Interaction.Started, position: int) -> None:
        owned = {"queue_id": e.queue_id, "owner": e.agent_id, "first_agent": e.agent_id}
        self._create(tx, e, position, status="active", unread=0, unread_count=0, **owned)

    def _create(self, tx: Tx, e: Any, position: int, **columns: Any) -> None:
        message = e.message
        customer, name = counterpart(message)
        customer = customer.casefold()
        subject_key, name_key = fold(message["subject"]), fold(name)
        tx.rows("interactions", "interaction_id").insert(
            {
                **UNSET,
                "interaction_id": e.originator_id,
                "company_id": e.company_id,
                "short_ref": short_ref(e.originator_id),
                "mailbox": e.mailbox.casefold(),
                "subject": message["subject"],
                "subject_key": subject_key,
                "customer": customer,
                "customer_name": name,
                "customer_name_key": name_key,
                "created_at": e.timestamp,
                "created_position": position,
                "last_activity_at": e.timestamp,
                "handling_ms": 0,
                "last_direction": message["direction"],
                "snippet": message["snippet"],
                **columns,
            }
        )
        text = with_message("", message_text(message))
        texts: Row = {"interaction_id": e.originator_id, "company_id": e.company_id}
        texts["message_text"] = text
        if tx.dialect == "postgres":
            texts["search_vector"] = index_words(subject_key, customer, name_key, text)
        tx.rows("texts", "interaction_id").insert(texts)

    @handles(Interaction.Routed)
    def _routed(self, tx: Tx, e: Interaction.Routed, position: int) -> None:
        self._set(tx, e, status="queued", queue_id=e.queue_id, owner=None)

    @handles(Interaction.ReturnedToQueue)
    def _returned(self, tx: Tx, e: Interaction.ReturnedToQueue, position: int) -> None:
        self._set_handled(tx, e, status="queued", queue_id=e.queue_id, owner=None)

    @handles(Interaction.Offered)
    def _offered(self, tx: Tx, e: Interaction.Offered, position: int) -> None:
        self._set(tx, e, status="offered")

    @handles(Interaction.OfferRejected, Interaction.OfferExpired)
    def _offer_ended(self, tx: Tx, e: Any, position: int) -> None:
        self._set(tx, e, status="queued")

    @handles(Interaction.Accepted)
    def _accepted(self, tx: Tx, e: Interaction.Accepted, position: int) -> None:
        row = self._row(tx, e)
        if row is not None:
            first = row["first_agent"]
            owner = {"owner": e.agent_id, "first_agent": e.agent_id if first is None else first}
            self._set(tx, e, status="active", unread=0, unread_count=0, **owner)

    @handles(Interaction.Parked)
    def _parked(self, tx: Tx, e: Interaction.Parked, position: int) -> None:
        self._set_handled(tx, e, status="parked")

    @handles(Interaction.Resumed)
    def _resumed(self, tx: Tx, e: Interaction.Resumed, position: int) -> None:
        self._set(tx, e, status="active")

    @handles(*MESSAGES)
    def _message(self, tx: Tx, e: Any, position: int) -> None:
        row, key = self._row(tx, e), str(e.originator_id)
        texts = tx.rows("texts", "interaction_id")
        stored = texts.get(key)
        if row is None or stored is None:
            raise LookupError(f"interaction {e.originator_id} was never created")
        message = e.message
        text = with_message(stored["message_text"], message_text(message))
        if tx.dialect == "postgres":
            head = (row["subject_key"], row["customer"], row["customer_name_key"])
            words = index_words(*head, text)
            texts.update(key, message_text=text, search_vector=words)
        else:
            texts.update(key, message_text=text)
        if isinstance(e, INBOUND):
            self._set(
                tx,
                e,
                snippet=message["snippet"],
                last_direction=message["direction"],
                unread=1,
                unread_count=row["unread_count"] + 1,
            )
        else:
            self._set(tx, e, snippet=message["snippet"], last_direction=message["direction"])

    @handles(Interaction.Transferred)
    def _transferred(self, tx: Tx, e: Interaction.Transferred, position: int) -> None:
        if e.to_agent_id is None:
            self._set_handled(tx, e, status="queued", queue_id=e.to_queue_id, owner=None)
        else:
            self._set_handled(tx, e, status="parked", owner=e.to_agent_id)

    @handles(Interaction.SubstatusSet)
    def _substatus_set(self, tx: Tx, e: Interaction.SubstatusSet, position: int) -> None:
        self._set(tx, e, substatus=e.substatus)

    @handles(Interaction.SubstatusCleared)
    def _substatus_cleared(self, tx: Tx, e: Any, position: int) -> None:
        self._set(tx, e, substatus=None)

    @handles(Interaction.Tagged)
    def _tagged(self, tx: Tx, e: Interaction.Tagged, position: int) -> None:
        tx.rows("tags", "interaction_id", "tag").put(
            {"interaction_id": e.originator_id, "tag": e.tag}
        )
        self._set(tx, e)

    @handles(Interaction.Untagged)
    def _untagged(self, tx: Tx, e: Interaction.Untagged, position: int) -> None:
        tx.rows("tags", "interaction_id", "tag").delete(e.originator_id, e.tag)
        self._set(tx, e)

    @handles(Interaction.MarkedUnread)
    def _marked_unread(self, tx: Tx, e: Interaction.MarkedUnread, position: int) -> None:
        row = self._row(tx, e)
        if row is not None:
            self._set(tx, e, unread=1, unread_count=max(row["unread_count"], 1))

    @handles(Interaction.MarkedRead)
    def _marked_read(self, tx: Tx, e: Interaction.MarkedRead, position: int) -> None:
        self._set(tx, e, unread=0, unread_count=0)

    @handles(Interaction.Closed)
    def _closed(self, tx: Tx, e: Interaction.Closed, position: int) -> None:
        path = to_json(e.disposition)
        key = fold(" / ".join(e.disposition))
        self._set_handled(tx, e, status="closed", disposition=path, disposition_key=key)

    @handles(Interaction.Reopened)
    def _reopened(self, tx: Tx, e: Interaction.Reopened, position: int) -> None:
        cleared: dict[str, Any] = {"disposition": None, "disposition_key": None, "substatus": None}
        if e.agent_id is not None:
            self._set(tx, e, status="active", owner=e.agent_id, **cleared)
            return
        row = self._row(tx, e)
        if row is not None:
            queued = {"status": "queued", "queue_id": e.queue_id, "owner": None, "unread": 1}
            self._set(tx, e, unread_count=max(row["unread_count"], 1), **queued, **cleared)

    @handles(*ACTIVITY_ONLY)
    def _activity(self, tx: Tx, e: Any, position: int) -> None:
        self._set(tx, e)

    @staticmethod
    def _row(tx: Tx, e: Any) -> Row | None:
        return tx.rows("interactions", "interaction_id").get(str(e.originator_id))

    @staticmethod
    def _set(tx: Tx, e: Any, **columns: Any) -> None:
        """Changes the columns of the interaction's row, if any, and its activity."""
        tx.rows("interactions", "interaction_id").update(  # a text key: adapted once
            str(e.originator_id), last_activity_at=e.timestamp, **columns
        )

    def _set_handled(self, tx: Tx, e: Any, **columns: Any) -> None:
        """`_set`, adding the segment an agent just handled to the handling time."""
        if e.segment_ms:
            row = self._row(tx, e)
            if row is None:
                return
            columns["handling_ms"] = row["handling_ms"] + e.segment_ms
        self._set(tx, e, **columns)

    def prefetch(self, tx: Tx, domain_events: Sequence[Any]) -> None:
        """The rows of the interactions the page changes, and the texts its messages extend,
        except those the page creates."""
        created = {e.originator_id for e in domain_events if isinstance(e, CREATED)}
        changed: dict[Any, None] = {}
        extended: dict[Any, None] = {}
        for e in domain_events:
            if type(e) in self.handlers and e.originator_id not in created:
                changed[e.originator_id] = None
                if isinstance(e, MESSAGES):
                    extended[e.originator_id] = None
        tx.rows("interactions", "interaction_id").load(changed)
        tx.rows("texts", "interaction_id").load(extended)
