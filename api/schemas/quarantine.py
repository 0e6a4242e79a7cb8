"""Wire shapes of quarantined input."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from api.schemas.common import Out


class QuarantinedOut(Out):
    quarantine_id: UUID
    at: datetime
    reason: str
    source: str  # "api", or "imap:<mailbox id>:<folder>"
    blob: str
    released: bool
    interaction_id: UUID | None
    released_at: datetime | None


class QuarantineListOut(Out):
    items: list[QuarantinedOut]
