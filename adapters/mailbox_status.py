"""What the ingestion worker last saw of each mailbox, for `GET .../mailboxes/{id}`.

A small table beside the read models (its own SQLite file under the data directory, or a table
in the PostgreSQL schema), written by the worker and read by the API. It is operational state,
not history: it is not rebuilt from the log.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from adapters.persistence import Persistence
from projections.views import Table, View, make_view

NAME = "mailbox_status"
COLUMNS = (
    "connected",
    "last_fetch_at",
    "last_error",
    "last_error_at",
    "failures",
    "next_attempt_at",
    "paused_by_limit",
    "last_uid",
    "ingested",
)
TABLE = Table(
    "mailboxes",
    "mailbox_id TEXT NOT NULL, company_id TEXT NOT NULL, connected INTEGER NOT NULL, "
    "last_fetch_at TEXT, last_error TEXT, last_error_at TEXT, failures BIGINT NOT NULL, "
    "next_attempt_at TEXT, paused_by_limit INTEGER NOT NULL, last_uid BIGINT, "
    "ingested BIGINT NOT NULL, updated_at TEXT NOT NULL",
    "mailbox_id",
)
_BOOLEANS = ("connected", "paused_by_limit")


class MailboxStatusStore:
    """One row per mailbox; `update` changes only the fields it is given."""

    def __init__(self, view: View) -> None:
        self.view = view

    @classmethod
    def open(cls, persistence: Persistence) -> MailboxStatusStore:
        view = make_view(persistence.view_datastore(NAME), NAME, (TABLE,))
        if persistence.create_tables:
            view.create_tables()
        return cls(view)

    def update(
        self,
        mailbox_id: UUID,
        company_id: UUID,
        *,
        at: datetime,
        add_ingested: int = 0,
        **fields: Any,
    ) -> None:
        unknown = set(fields) - set(COLUMNS)
        if unknown:
            raise ValueError(f"no mailbox status fields {sorted(unknown)}")
        row = {"connected": False, "failures": 0, "paused_by_limit": False, "ingested": 0}
        row.update(fields)
        columns = ["mailbox_id", "company_id", *row, "updated_at"]
        changes = ", ".join(f"{name} = excluded.{name}" for name in [*fields, "updated_at"])
        with self.view.transaction() as tx:
            tx.execute(
                f"INSERT INTO {{mailboxes}} ({', '.join(columns)}) "
                f"VALUES ({', '.join('?' * len(columns))}) "
                f"ON CONFLICT (mailbox_id) DO UPDATE SET {changes}",
                mailbox_id,
                company_id,
                *row.values(),
                at,
            )
            if add_ingested:
                tx.execute(
                    "UPDATE {mailboxes} SET ingested = ingested + ? WHERE mailbox_id = ?",
                    add_ingested,
                    mailbox_id,
                )

    def get(self, mailbox_id: UUID) -> dict[str, Any] | None:
        rows = self.view.select(
            f"SELECT {', '.join(COLUMNS)}, updated_at FROM {{mailboxes}} WHERE mailbox_id = ?",
            mailbox_id,
        )
        if not rows:
            return None
        return {k: bool(v) if k in _BOOLEANS else v for k, v in rows[0].items()}

    def close(self) -> None:
        self.view.close()
