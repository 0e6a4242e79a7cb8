"""Access tokens: each user's tokens by metadata only (never the token or its hash)."""

from __future__ import annotations

from uuid import UUID

from domain.records import AccessToken
from projections.base import Projection, Row, Table, Tx, handles

COLUMNS = "token_id, label, created_at, expires_at, revoked_at"


class AccessTokens(Projection):
    """One row per token: whose, its label, when it was issued, expires and was revoked."""

    name = "access_tokens"
    tables = (
        Table(
            "tokens",
            "token_id TEXT NOT NULL, user_id TEXT NOT NULL, company_id TEXT NOT NULL, "
            "position BIGINT NOT NULL, label TEXT, created_at TEXT NOT NULL, "
            "created_by TEXT NOT NULL, expires_at TEXT, revoked_at TEXT, revoked_by TEXT",
            "token_id",
            indexes=("user_id, position",),
        ),
    )

    @handles(AccessToken.Issued)
    def _issued(self, tx: Tx, e: AccessToken.Issued, position: int) -> None:
        tx.insert(
            "tokens",
            token_id=e.originator_id,
            user_id=e.user_id,
            company_id=e.company_id,
            position=position,
            label=e.label,
            created_at=e.timestamp,
            created_by=e.actor,
            expires_at=e.expires_at,
        )

    @handles(AccessToken.Revoked)
    def _revoked(self, tx: Tx, e: AccessToken.Revoked, position: int) -> None:
        tx.execute(
            "UPDATE {tokens} SET revoked_at = ?, revoked_by = ? WHERE token_id = ?",
            e.timestamp,
            e.actor,
            e.originator_id,
        )

    def of_user(self, user_id: UUID, *, limit: int = 500) -> list[Row]:
        """The user's tokens, revoked ones included, newest first (in the order issued)."""
        return self.view.select(
            f"SELECT {COLUMNS} FROM {{tokens}} WHERE user_id = ? ORDER BY position DESC LIMIT ?",
            user_id,
            limit,
        )
