"""Quarantine: input that could not become an interaction, per company, for admins."""

from __future__ import annotations

from uuid import UUID

from domain.records import QuarantinedMessage
from projections.base import Projection, Row, Table, Tx, handles

COLUMNS = "quarantine_id, at, reason, source, blob, released, interaction_id, released_at"


class Quarantine(Projection):
    """One row per quarantined message; released ones say which interaction they went to."""

    name = "quarantine"
    tables = (
        Table(
            "messages",
            "quarantine_id TEXT NOT NULL, company_id TEXT NOT NULL, at TEXT NOT NULL, "
            "reason TEXT NOT NULL, source TEXT NOT NULL, blob TEXT NOT NULL, "
            "released INTEGER NOT NULL, interaction_id TEXT, released_at TEXT, released_by TEXT",
            "quarantine_id",
            indexes=("company_id, released, at",),
        ),
    )

    @handles(QuarantinedMessage.Quarantined)
    def _quarantined(self, tx: Tx, e: QuarantinedMessage.Quarantined, position: int) -> None:
        tx.insert(
            "messages",
            quarantine_id=e.originator_id,
            company_id=e.company_id,
            at=e.timestamp,
            reason=e.reason,
            source=e.source,
            blob=e.blob,
            released=False,
        )

    @handles(QuarantinedMessage.Released)
    def _released(self, tx: Tx, e: QuarantinedMessage.Released, position: int) -> None:
        tx.execute(
            "UPDATE {messages} SET released = ?, interaction_id = ?, released_at = ?, "
            "released_by = ? WHERE quarantine_id = ?",
            True,
            e.interaction_id,
            e.timestamp,
            e.actor,
            e.originator_id,
        )

    def items(
        self, company_id: UUID, *, released: bool | None = None, limit: int = 100, offset: int = 0
    ) -> list[Row]:
        """The company's quarantined messages, newest first."""
        where, params = "company_id = ?", [company_id]
        if released is not None:
            where += " AND released = ?"
            params.append(int(released))  # type: ignore[arg-type]
        rows = self.view.select(
            f"SELECT {COLUMNS} FROM {{messages}} WHERE {where} "
            "ORDER BY at DESC, quarantine_id LIMIT ? OFFSET ?",
            *params,
            limit,
            offset,
        )
        return [{**row, "released": bool(row["released"])} for row in rows]
