"""Company limits: emails in progress against the open limit, and when ingestion pauses."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from domain.company import Company
from domain.quota import CompanyQuota
from projections.base import Projection, Row, Table, Tx, handles


class CompanyLimits(Projection):
    """Per company: open count, limit, paused; plus the history of pauses for reports."""

    name = "company_limits"
    tables = (
        Table(
            "companies",
            "company_id TEXT NOT NULL, open_count BIGINT NOT NULL, "
            "open_limit BIGINT, paused INTEGER NOT NULL",
            "company_id",
        ),
        Table("quotas", "quota_id TEXT NOT NULL, company_id TEXT NOT NULL", "quota_id"),
        Table(
            "limit_history",
            "company_id TEXT NOT NULL, position BIGINT NOT NULL, "
            "at TEXT NOT NULL, open_count BIGINT NOT NULL, open_limit BIGINT, "
            "paused INTEGER NOT NULL",
            "company_id, position",
        ),
    )

    @handles(Company.Created, Company.OpenLimitSet)
    def _limit_set(self, tx: Tx, e: Any, position: int) -> None:
        self._update(tx, e.originator_id, e, position, open_limit=e.open_limit)

    @handles(CompanyQuota.Created)
    def _quota_created(self, tx: Tx, e: CompanyQuota.Created, position: int) -> None:
        tx.execute(
            "INSERT INTO {quotas} (quota_id, company_id) VALUES (?, ?)",
            e.originator_id,
            e.company_id,
        )
        self._update(tx, e.company_id, e, position)

    @handles(CompanyQuota.Reserved, CompanyQuota.Released)
    def _counted(self, tx: Tx, e: Any, position: int) -> None:
        quota = tx.execute(
            "SELECT company_id FROM {quotas} WHERE quota_id = ?", e.originator_id
        ).one()
        if quota is None:
            raise LookupError(f"quota {e.originator_id} was never created")
        self._update(tx, UUID(quota["company_id"]), e, position, open_count=e.open_count)

    def _update(
        self,
        tx: Tx,
        company_id: UUID,
        e: Any,
        position: int,
        *,
        open_count: int | None = None,
        open_limit: int | None = None,
    ) -> None:
        row = tx.execute(
            "SELECT open_count, open_limit, paused FROM {companies} WHERE company_id = ?",
            company_id,
        ).one()
        old = row or {"open_count": 0, "open_limit": None, "paused": 0}
        count = old["open_count"] if open_count is None else open_count
        limit = old["open_limit"] if open_limit is None else open_limit
        paused = limit is not None and count >= limit
        tx.execute(
            "INSERT INTO {companies} (company_id, open_count, open_limit, paused) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (company_id) DO UPDATE SET "
            "open_count = excluded.open_count, open_limit = excluded.open_limit, "
            "paused = excluded.paused",
            company_id,
            count,
            limit,
            paused,
        )
        if paused != bool(old["paused"]):
            tx.execute(
                "INSERT INTO {limit_history} (company_id, position, at, open_count, "
                "open_limit, paused) VALUES (?, ?, ?, ?, ?, ?)",
                company_id,
                position,
                e.timestamp,
                count,
                limit,
                paused,
            )

    def get(self, company_id: UUID) -> Row | None:
        rows = self.view.select(
            "SELECT company_id, open_count, open_limit, paused "
            "FROM {companies} WHERE company_id = ?",
            company_id,
        )
        return {**rows[0], "paused": bool(rows[0]["paused"])} if rows else None

    def history(self, company_id: UUID) -> list[Row]:
        """Each time ingestion paused or resumed, oldest first."""
        rows = self.view.select(
            "SELECT at, open_count, open_limit, paused FROM "
            "{limit_history} WHERE company_id = ? ORDER BY position",
            company_id,
        )
        return [{**row, "paused": bool(row["paused"])} for row in rows]
