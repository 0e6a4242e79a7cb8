"""Which mailboxes to ingest: every company's mailboxes with IMAP settings, read from the log.

Only companies whose mailbox events are new since the last look are loaded again.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.utils import get_topic

from domain.application import ContactCenter
from domain.company import Company
from domain.errors import CompanyNotFound

TOPICS = tuple(
    get_topic(cls) for cls in (Company.MailboxAdded, Company.MailboxChanged, Company.MailboxRemoved)
)
PAGE = 500

Mailbox = tuple[UUID, dict[str, Any]]  # company id, the mailbox as the Company holds it


class MailboxDirectory:
    """The IMAP mailboxes by id, kept current by reading mailbox events as the log grows."""

    def __init__(self, app: ContactCenter) -> None:
        self.app = app
        self.position = 0
        self.mailboxes: dict[UUID, Mailbox] = {}

    def refresh(self) -> dict[UUID, Mailbox]:
        for company_id in self._changed_companies():
            self.mailboxes = {k: v for k, v in self.mailboxes.items() if v[0] != company_id}
            try:
                company = self.app.company(company_id)
            except CompanyNotFound:
                continue
            for mailbox_id, mailbox in company.mailboxes.items():
                if (mailbox.get("settings") or {}).get("imap"):
                    self.mailboxes[UUID(mailbox_id)] = (company_id, mailbox)
        return dict(self.mailboxes)

    def _changed_companies(self) -> set[UUID]:
        changed: set[UUID] = set()
        while True:
            page = self.app.recorder.select_notifications(
                self.position, PAGE, topics=TOPICS, inclusive_of_start=False
            )
            if not page:
                return changed
            changed.update(UUID(str(n.originator_id)) for n in page)
            self.position = page[-1].id
