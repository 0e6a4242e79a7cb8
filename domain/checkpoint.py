"""MailboxCheckpoint: how far one IMAP folder of one mailbox has been ingested.

It is saved in the same transaction as the emails it covers, so after a crash at any point the
checkpoint and the recorded emails agree: nothing is fetched twice into the log, nothing skipped.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import RuleViolated
from domain.ids import NAMESPACE


class CheckpointBehind(RuleViolated):
    """A chunk fetched after UIDs the checkpoint does not cover yet: recording it would skip
    them. The caller fetches again from the checkpoint."""

    code = "checkpoint-behind"


def checkpoint_id(company_id: UUID, mailbox_id: UUID, folder: str) -> UUID:
    return uuid5(NAMESPACE, f"checkpoint/{company_id}/{mailbox_id}/{folder}")


class MailboxCheckpoint(Aggregate):
    """Every UID up to `last_uid` of the folder, under `uidvalidity`, is recorded."""

    class Created(Aggregate.Created):
        company_id: UUID
        mailbox_id: UUID
        folder: str
        uidvalidity: int

    class Advanced(Aggregate.Event):
        last_uid: int
        count: int  # messages this step covered: recorded, duplicate or quarantined

    class UidValidityChanged(Aggregate.Event):
        uidvalidity: int
        previous: int

    @staticmethod
    def create_id(company_id: UUID, mailbox_id: UUID, folder: str, **_: object) -> UUID:
        return checkpoint_id(company_id, mailbox_id, folder)

    @event(Created)
    def __init__(
        self,
        *,
        company_id: UUID,
        mailbox_id: UUID,
        folder: str,
        uidvalidity: int,
        timestamp: datetime,
    ) -> None:
        self.company_id, self.mailbox_id, self.folder = company_id, mailbox_id, folder
        self.uidvalidity = uidvalidity
        self.last_uid = 0

    def follow(self, uidvalidity: int, *, at: datetime) -> None:
        """The folder was recreated: its UIDs start again; message identity prevents repeats."""
        if uidvalidity != self.uidvalidity:
            self._uidvalidity_changed(
                uidvalidity=uidvalidity, previous=self.uidvalidity, timestamp=at
            )

    @event(UidValidityChanged)
    def _uidvalidity_changed(self, uidvalidity: int, previous: int, timestamp: datetime) -> None:
        self.uidvalidity, self.last_uid = uidvalidity, 0

    def require_at_least(self, uid: int) -> None:
        if self.last_uid < uid:
            raise CheckpointBehind(
                f"checkpoint {self.id} is at UID {self.last_uid}; the chunk follows UID {uid}"
            )

    def advance(self, last_uid: int, count: int, *, at: datetime) -> None:
        if last_uid < self.last_uid:
            raise RuleViolated(
                f"checkpoint {self.id} is at UID {self.last_uid}, cannot go back to {last_uid}"
            )
        if last_uid > self.last_uid:
            self._advanced(last_uid=last_uid, count=count, timestamp=at)

    @event(Advanced)
    def _advanced(self, last_uid: int, count: int, timestamp: datetime) -> None:
        self.last_uid = last_uid
