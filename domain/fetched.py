"""What ingestion hands the model: a folder as the server names it, fetched emails, and what
recording a chunk of them did."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from domain.messages import InboundEmail


@dataclass(frozen=True)
class Folder:
    """One IMAP folder of one mailbox, as the server names it now."""

    company_id: UUID
    mailbox_id: UUID
    name: str
    uidvalidity: int

    @property
    def source(self) -> str:
        return f"imap:{self.mailbox_id}:{self.name}"


@dataclass(frozen=True)
class FetchedEmail:
    """One fetched message; its raw bytes are already in the blob store under `blob`."""

    uid: int
    blob: str
    arrived_at: datetime  # the IMAP INTERNALDATE
    email: InboundEmail | None  # None: it could not be parsed, see `problem`
    problem: str = ""


@dataclass(frozen=True)
class Ingested:
    """What one batch did: the folder's checkpoint now, and the UIDs it covers."""

    last_uid: int
    covered: tuple[int, ...]  # recorded, duplicate or quarantined: safe to flag \\Seen
    outcomes: dict[str, int] = field(default_factory=dict)
    limit_reached: bool = False  # the batch stopped at a message the open limit refused
    position: int = 0
