"""The auto-reply policy: each arriving email is considered once; an RFC 3834 answer, when the
mailbox wants one and the email is not automatic or bulk, is queued in the outbox.

Idempotent across crashes: the answer's Message-ID follows from the email it answers, and
`ContactCenter.queue_auto_reply` refuses a second one, or one inside the sender's window.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from email import policy
from email.parser import BytesHeaderParser
from uuid import UUID
from zoneinfo import ZoneInfo

from adapters.blobs import BlobNotFound
from api import outgoing
from api.bootstrap import Services
from domain.auto_reply import AutoReplyConfig, InboundFacts, decide
from domain.company import Company
from domain.errors import DomainError
from projections.base import Row
from projections.outbox import PendingSends

log = logging.getLogger(__name__)

HEADER_BYTES = 64 * 1024
MAX_AGE = timedelta(hours=24)  # a first start over an old log answers nothing older


def header_fields(raw: bytes) -> dict[str, list[str]]:
    """Header fields by lower-case name, unfolded; only the header block is read."""
    head = BytesHeaderParser(policy=policy.compat32).parsebytes(raw[:HEADER_BYTES])
    fields: dict[str, list[str]] = {}
    for name, value in head.items():
        text = str(value).replace("\r", "").replace("\n", "")
        fields.setdefault(name.lower(), []).append(text)
    return fields


class AutoReplies:
    """Decides the automatic answer to each arrival the outbox view lists."""

    def __init__(self, services: Services, outbox: PendingSends, max_age: timedelta = MAX_AGE):
        self.services, self.outbox, self.max_age = services, outbox, max_age

    def run(self, limit: int = 100) -> int:
        rows = self.outbox.arrivals(limit)
        companies: dict[str, Company] = {}
        for row in rows:
            try:
                self.consider(row, companies)
            except (DomainError, BlobNotFound, ValueError) as error:
                log.warning("no auto-reply to %s: %s", row["record_id"], error)
            self.outbox.decided(row["record_id"])
        return len(rows)

    def consider(self, row: Row, companies: dict[str, Company]) -> bool:
        """True when an automatic answer was queued."""
        app, now = self.services.app, self.services.clock()
        if row["company_id"] not in companies:
            companies[row["company_id"]] = app.company(UUID(row["company_id"]))
        company = companies[row["company_id"]]
        mailbox = company.mailbox_by_address(row["mailbox"])
        config = AutoReplyConfig.parse((mailbox or {}).get("settings", {}).get("auto_reply"))
        arrived_at = datetime.fromisoformat(row["arrived_at"])
        if mailbox is None or config is None or now - arrived_at > self.max_age:
            return False
        facts = InboundFacts(row["sender"], header_fields(self.services.blobs.get(row["blob"])))
        own = outgoing.own_addresses(company)
        decision = decide(
            config,
            facts,
            first=bool(row["first"]),
            arrived_at=arrived_at,
            tz=ZoneInfo(company.timezone),
            own_addresses=own,
        )
        if decision is None:
            return False
        interaction = app.interaction(UUID(row["interaction_id"]))
        message = outgoing.auto_reply(
            self.services.blobs,
            interaction,
            sender=outgoing.sender_of(company, mailbox["address"]),
            to=row["sender"],
            subject=row["subject"],
            answering_id=row["rfc_message_id"],
            answering_record=row["record_id"],
            body_text=decision.body(interaction.short_ref),
            at=now,
        )
        saved = app.queue_auto_reply(
            interaction.id,
            message,
            reason=decision.reason,
            answering=row["record_id"],
            sender=row["sender"],
            arrived_at=arrived_at,
            window=config.window,
            at=now,
        )
        return saved is not None
