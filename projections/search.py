"""Search: one row per interaction for lists, filters, free text and `[#REF]` threading."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from domain.ids import short_ref
from domain.interaction import Interaction
from domain.messages import MessageInfo
from projections.base import Projection, Row, Table, Tx, handles, to_json
from projections.search_query import OUT, Page, SearchQuery, with_tags

COLUMNS = (
    "interaction_id TEXT NOT NULL, company_id TEXT NOT NULL, short_ref TEXT NOT NULL, "
    "mailbox TEXT NOT NULL, status TEXT NOT NULL, queue_id TEXT, owner TEXT, first_agent TEXT, "
    "subject TEXT NOT NULL, customer TEXT NOT NULL, customer_name TEXT NOT NULL, "
    "created_at TEXT NOT NULL, last_activity_at TEXT NOT NULL, unread INTEGER NOT NULL, "
    "substatus TEXT, disposition TEXT, handling_ms BIGINT NOT NULL, "
    "last_direction TEXT NOT NULL, snippet TEXT NOT NULL, search_text TEXT NOT NULL"
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


class Search(Projection):
    """Interactions by company, newest activity first, with keyset pagination."""

    name = "search"
    tables = (
        Table(
            "interactions",
            COLUMNS,
            "interaction_id",
            ("company_id, last_activity_at, interaction_id", "company_id, short_ref"),
        ),
        Table(
            "tags",
            "interaction_id TEXT NOT NULL, tag TEXT NOT NULL",
            "interaction_id, tag",
            ("tag",),
        ),
    )

    @handles(Interaction.Received)
    def _received(self, tx: Tx, e: Interaction.Received, position: int) -> None:
        self._create(tx, e, status="received", unread=True)

    @handles(Interaction.Started)
    def _started(self, tx: Tx, e: Interaction.Started, position: int) -> None:
        self._create(
            tx,
            e,
            status="active",
            queue_id=e.queue_id,
            owner=e.agent_id,
            first_agent=e.agent_id,
            unread=False,
        )

    def _create(self, tx: Tx, e: Any, **columns: Any) -> None:
        message = e.message
        customer, name = counterpart(message)
        tx.insert(
            "interactions",
            interaction_id=e.originator_id,
            company_id=e.company_id,
            short_ref=short_ref(e.originator_id),
            mailbox=e.mailbox,
            subject=message["subject"],
            customer=customer,
            customer_name=name,
            created_at=e.timestamp,
            last_activity_at=e.timestamp,
            handling_ms=0,
            last_direction=message["direction"],
            snippet=message["snippet"],
            search_text=searchable(message["subject"], customer, name, message["snippet"]),
            **columns,
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
        self._set(tx, e, status="active", owner=e.agent_id, unread=False)

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
            "SELECT subject, customer, customer_name FROM {interactions} WHERE interaction_id = ?",
            e.originator_id,
        ).one()
        if row is None:
            raise LookupError(f"interaction {e.originator_id} was never created")
        snippet = e.message["snippet"]
        text = searchable(row["subject"], row["customer"], row["customer_name"], snippet)
        changes: dict[str, Any] = {"last_direction": e.message["direction"]}
        if isinstance(e, Interaction.MessageReceived | Interaction.BounceReceived):
            changes["unread"] = True
        self._set(tx, e, snippet=snippet, search_text=text, **changes)

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

    @handles(Interaction.MarkedUnread, Interaction.MarkedRead)
    def _marked(self, tx: Tx, e: Any, position: int) -> None:
        self._set(tx, e, unread=isinstance(e, Interaction.MarkedUnread))

    @handles(Interaction.Closed)
    def _closed(self, tx: Tx, e: Interaction.Closed, position: int) -> None:
        self._add_handling(tx, e)
        self._set(tx, e, status="closed", disposition=to_json(e.disposition))

    @handles(Interaction.Reopened)
    def _reopened(self, tx: Tx, e: Interaction.Reopened, position: int) -> None:
        if e.agent_id is None:
            self._set(
                tx,
                e,
                status="queued",
                queue_id=e.queue_id,
                owner=None,
                unread=True,
                disposition=None,
                substatus=None,
            )
        else:
            self._set(tx, e, status="active", owner=e.agent_id, disposition=None, substatus=None)

    @handles(*ACTIVITY_ONLY)
    def _activity(self, tx: Tx, e: Any, position: int) -> None:
        self._set(tx, e)

    def _set(self, tx: Tx, e: Any, **columns: Any) -> None:
        """Assigns the columns (names from this module, never from input) and the activity."""
        columns["last_activity_at"] = e.timestamp
        assignments = ", ".join(f"{name} = ?" for name in columns)
        tx.execute(
            f"UPDATE {{interactions}} SET {assignments} WHERE interaction_id = ?",
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

    def search(self, company_id: UUID, **filters: Any) -> tuple[list[Row], str | None]:
        """Filters: status, queue_id, agent_id, tag, unread, text, since, limit (max 200),
        cursor (from the previous page), visible_queue_ids (None = every queue)."""
        query = SearchQuery(company_id, **filters)
        if query.matches_nothing:
            return [], None
        with self.view.transaction(commit=False) as tx:
            text, params = query.statement(OUT)
            rows = tx.execute(text, *params).all()
            page = Page(rows, query.limit)
            return with_tags(tx, page.rows), page.next_cursor

    def get(self, interaction_id: UUID) -> Row | None:
        with self.view.transaction(commit=False) as tx:
            rows = tx.execute(
                f"SELECT {OUT} FROM {{interactions}} WHERE interaction_id = ?", interaction_id
            ).all()
            return with_tags(tx, rows)[0] if rows else None

    def find_by_short_ref(self, company_id: UUID, ref: str) -> UUID | None:
        """The interaction a `[#REF]` subject token names, within one company."""
        rows = self.view.select(
            "SELECT interaction_id FROM {interactions} WHERE company_id = ? AND short_ref = ? "
            "ORDER BY created_at DESC, interaction_id LIMIT 1",
            company_id,
            ref.strip().upper(),
        )
        return UUID(rows[0]["interaction_id"]) if rows else None
