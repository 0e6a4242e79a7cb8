"""Pending sends: queued emails not yet sent or failed, and inbound emails awaiting an
auto-reply decision. The send worker owns this view.

Rows come and go with events (exactly once, tracked); the worker's own bookkeeping (attempts,
next try, last error, lease) lives in extra columns of the same rows, so a rebuild starts it
afresh.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from domain.interaction import Interaction
from domain.messages import MessageInfo
from projections.base import Projection, Row, Table, Tx, handles, to_json

KINDS: dict[type, str] = {
    Interaction.Started: "start",
    Interaction.ReplyQueued: "reply",
    Interaction.ForwardQueued: "forward",
    Interaction.AutoReplyQueued: "auto_reply",
}
PENDING_COLUMNS = (
    "record_id, interaction_id, company_id, mailbox, kind, envelope_from, recipients, blob, "
    "rfc_message_id, queued_at, attempts, next_try_at, last_error, lease_owner, lease_until"
)


class PendingSends(Projection):
    """The outbox read model: what the send worker must deliver, and when to try next."""

    name = "outbox"
    tables = (
        Table(
            "pending",
            "record_id TEXT NOT NULL, interaction_id TEXT NOT NULL, company_id TEXT NOT NULL, "
            "mailbox TEXT NOT NULL, kind TEXT NOT NULL, envelope_from TEXT NOT NULL, "
            "recipients TEXT NOT NULL, blob TEXT NOT NULL, rfc_message_id TEXT NOT NULL, "
            "queued_at TEXT NOT NULL, attempts INTEGER NOT NULL, next_try_at TEXT NOT NULL, "
            "last_error TEXT, lease_owner TEXT, lease_until TEXT",
            "record_id",
            ("next_try_at",),
        ),
        Table(
            "interactions",
            "interaction_id TEXT NOT NULL, company_id TEXT NOT NULL, mailbox TEXT NOT NULL",
            "interaction_id",
        ),
        Table(
            "inbound",
            "record_id TEXT NOT NULL, interaction_id TEXT NOT NULL, company_id TEXT NOT NULL, "
            "mailbox TEXT NOT NULL, sender TEXT NOT NULL, subject TEXT NOT NULL, "
            "rfc_message_id TEXT NOT NULL, blob TEXT NOT NULL, first INTEGER NOT NULL, "
            "arrived_at TEXT NOT NULL",
            "record_id",
        ),
    )

    @handles(Interaction.Received, Interaction.Started)
    def _created(self, tx: Tx, e: Any, position: int) -> None:
        tx.insert(
            "interactions",
            interaction_id=e.originator_id,
            company_id=e.company_id,
            mailbox=e.mailbox,
        )
        if isinstance(e, Interaction.Received):
            self._arrived(tx, e, position)
        else:
            self._queued(tx, e, position)

    @handles(Interaction.ReplyQueued, Interaction.ForwardQueued, Interaction.AutoReplyQueued)
    def _queued(self, tx: Tx, e: Any, position: int) -> None:
        message: MessageInfo = e.message
        kind = KINDS[type(e)]
        company_id, mailbox = self._interaction(tx, e.originator_id)
        tx.insert(
            "pending",
            record_id=message["record_id"],
            interaction_id=e.originator_id,
            company_id=company_id,
            mailbox=mailbox or message["sender"],
            kind=kind,
            envelope_from="" if kind == "auto_reply" else message["sender"],  # RFC 3834 §3.3
            recipients=to_json([*message["to"], *message["cc"]]),
            blob=message["blob"],
            rfc_message_id=message["rfc_message_id"],
            queued_at=e.timestamp,
            attempts=0,
            next_try_at=e.timestamp,
        )

    @handles(
        Interaction.ReplySent,
        Interaction.ForwardSent,
        Interaction.AutoReplySent,
        Interaction.SendFailed,
    )
    def _settled(self, tx: Tx, e: Any, position: int) -> None:
        tx.execute("DELETE FROM {pending} WHERE record_id = ?", e.record_id)

    @handles(Interaction.MessageReceived)
    def _arrived(self, tx: Tx, e: Any, position: int) -> None:
        message: MessageInfo = e.message
        company_id, mailbox = self._interaction(tx, e.originator_id)
        tx.insert(
            "inbound",
            record_id=message["record_id"],
            interaction_id=e.originator_id,
            company_id=company_id,
            mailbox=mailbox,
            sender=message["sender"],
            subject=message["subject"],
            rfc_message_id=message["rfc_message_id"],
            blob=message["blob"],
            first=isinstance(e, Interaction.Received),
            arrived_at=e.timestamp,
        )

    def _interaction(self, tx: Tx, interaction_id: UUID) -> tuple[str, str]:
        row = tx.execute(
            "SELECT company_id, mailbox FROM {interactions} WHERE interaction_id = ?",
            interaction_id,
        ).one()
        return ("", "") if row is None else (str(row["company_id"]), str(row["mailbox"]))

    # --- the worker's side -------------------------------------------------------------

    def due(self, now: datetime, limit: int = 100) -> list[Row]:
        """Emails whose next try has come and that no live worker holds."""
        return self.view.select(
            f"SELECT {PENDING_COLUMNS} FROM {{pending}} WHERE next_try_at <= ? "
            "AND (lease_until IS NULL OR lease_until <= ?) ORDER BY next_try_at, record_id "
            "LIMIT ?",
            now,
            now,
            limit,
        )

    def claim(self, record_ids: list[str], owner: str, now: datetime, until: datetime) -> set[str]:
        """Leases these emails to `owner`; returns those it got (another worker may have won)."""
        got: set[str] = set()
        with self.view.transaction() as tx:
            for record_id in record_ids:
                tx.execute(
                    "UPDATE {pending} SET lease_owner = ?, lease_until = ? WHERE record_id = ? "
                    "AND (lease_until IS NULL OR lease_until <= ?)",
                    owner,
                    until,
                    record_id,
                    now,
                )
                if _rowcount(tx) == 1:
                    got.add(record_id)
        return got

    def defer(self, record_id: str, next_try_at: datetime, error: str, *, attempt: bool) -> None:
        """Not sent this time: try again later (`attempt` counts it towards the limit)."""
        with self.view.transaction() as tx:
            tx.execute(
                "UPDATE {pending} SET attempts = attempts + ?, next_try_at = ?, last_error = ?, "
                "lease_owner = NULL, lease_until = NULL WHERE record_id = ?",
                1 if attempt else 0,
                next_try_at,
                error[:1000],
                record_id,
            )

    def release(self, record_ids: list[str]) -> None:
        """Hands back emails claimed but not tried (stopping, or the session was lost)."""
        with self.view.transaction() as tx:
            for record_id in record_ids:
                tx.execute(
                    "UPDATE {pending} SET lease_owner = NULL, lease_until = NULL "
                    "WHERE record_id = ?",
                    record_id,
                )

    def release_leases(self, owner: str) -> int:
        """A restarted worker takes back what its previous life held when it died."""
        with self.view.transaction() as tx:
            tx.execute(
                "UPDATE {pending} SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = ?",
                owner,
            )
            return _rowcount(tx)

    def arrivals(self, limit: int = 100) -> list[Row]:
        return self.view.select(
            "SELECT record_id, interaction_id, company_id, mailbox, sender, subject, "
            "rfc_message_id, blob, first, arrived_at FROM {inbound} "
            "ORDER BY arrived_at, record_id LIMIT ?",
            limit,
        )

    def decided(self, record_id: str) -> None:
        with self.view.transaction() as tx:
            tx.execute("DELETE FROM {inbound} WHERE record_id = ?", record_id)

    def pending(self, interaction_id: UUID | None = None) -> list[Row]:
        """Everything waiting (for one interaction), oldest first: for views and tests."""
        where, params = (
            ("WHERE interaction_id = ? ", [interaction_id]) if interaction_id else ("", [])
        )
        return self.view.select(
            f"SELECT {PENDING_COLUMNS} FROM {{pending}} {where}ORDER BY queued_at, record_id",
            *params,
        )


def _rowcount(tx: Tx) -> int:
    """Rows the last statement changed (the library wraps SQLite's cursor)."""
    return int(getattr(tx.cursor, "sqlite_cursor", tx.cursor).rowcount)
