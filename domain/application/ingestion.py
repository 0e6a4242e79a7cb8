"""IMAP ingestion: many fetched emails recorded at once with the mailbox checkpoint.

One `ingest` call is one transaction: the emails of a fetched chunk (their interactions, message
records, quota places, quarantine records) and the folder's checkpoint. A crash before the commit
leaves nothing, after it everything; a second worker on the same folder conflicts on the
checkpoint's version and, reloaded, skips what the first one recorded.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from datetime import datetime
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from domain.actors import Actor
from domain.application.base import Batch, retried_on_conflict
from domain.application.inbound import Delivery, FindByRef, Inbound
from domain.checkpoint import MailboxCheckpoint, checkpoint_id
from domain.company import Company
from domain.errors import DomainError, MailboxNotFound, OpenLimitReached, RuleViolated
from domain.fetched import FetchedEmail, Folder, Ingested
from domain.ids import message_record_id, quarantine_id_for
from domain.messages import InboundEmail
from domain.records import QuarantinedMessage

__all__ = ["FetchedEmail", "Folder", "Ingested", "Ingestion"]


class _Refused(Exception):
    """The model refused one message; the batch is rebuilt with that message quarantined."""

    def __init__(self, uid: int, reason: str) -> None:
        super().__init__(reason)
        self.uid, self.reason = uid, reason


class Ingestion(Inbound):
    """Commands of the ingestion worker, and the admin's retry of quarantined input."""

    def checkpoint(self, folder: Folder) -> MailboxCheckpoint | None:
        """The folder's checkpoint, or None before its first batch."""
        try:
            found: Aggregate = self.repository.get(
                checkpoint_id(folder.company_id, folder.mailbox_id, folder.name)
            )
        except AggregateNotFoundError:
            return None
        return found if isinstance(found, MailboxCheckpoint) else None

    def lookups(self, folder: Folder, fetched: Sequence[FetchedEmail]) -> set[UUID]:
        """The message records that recording `fetched` looks for: each email's own, and
        those of the emails it answers or reports on."""
        found: set[UUID] = set()
        for email in (message.email for message in fetched):
            if email is not None:
                rfc_ids = (email.rfc_message_id, *email.thread_candidates(), *email.bounce_of)
                found.update(message_record_id(folder.company_id, i) for i in rfc_ids)
        return found

    def ingest(
        self,
        folder: Folder,
        fetched: Sequence[FetchedEmail],
        *,
        after: int,
        at: datetime,
        find_by_ref: FindByRef,
        absent: Collection[UUID] = (),
    ) -> Ingested:
        """Records a chunk in UID order, stopping at the first message the open limit refuses.

        `after` is the UID the fetch started after: if the checkpoint is not there yet (the
        chunk before stopped early), `CheckpointBehind` is raised and nothing is recorded.

        `absent` names message records (see `lookups`) the store did not hold a moment ago:
        they are not looked up, one query per chunk instead of one per email. Should another
        writer have recorded one since, the save conflicts and the chunk is recorded again,
        looking everything up.
        """
        if absent:
            try:
                return self._ingest(folder, fetched, after, at, find_by_ref, frozenset(absent))
            except IntegrityError:
                pass
        return self._ingest_looking_up(folder, fetched, after, at, find_by_ref)

    @retried_on_conflict
    def _ingest_looking_up(
        self,
        folder: Folder,
        fetched: Sequence[FetchedEmail],
        after: int,
        at: datetime,
        find_by_ref: FindByRef,
    ) -> Ingested:
        return self._ingest(folder, fetched, after, at, find_by_ref, frozenset())

    def _ingest(
        self,
        folder: Folder,
        fetched: Sequence[FetchedEmail],
        after: int,
        at: datetime,
        find_by_ref: FindByRef,
        absent: frozenset[UUID],
    ) -> Ingested:
        refused: dict[int, str] = {}
        while True:
            batch = Batch(self, absent)
            try:
                return self._ingest_once(batch, folder, fetched, after, refused, at, find_by_ref)
            except _Refused as refusal:  # rebuilt from scratch: the batch held part of it
                refused[refusal.uid] = refusal.reason

    def _ingest_once(
        self,
        batch: Batch,
        folder: Folder,
        fetched: Sequence[FetchedEmail],
        after: int,
        refused: dict[int, str],
        at: datetime,
        find_by_ref: FindByRef,
    ) -> Ingested:
        checkpoint = self._checkpoint_in(batch, folder, at)
        checkpoint.require_at_least(after)
        address = _mailbox_address(batch.company(folder.company_id), folder.mailbox_id)
        covered: list[int] = []
        outcomes: Counter[str] = Counter()
        limit_reached = False
        for message in sorted(fetched, key=lambda m: m.uid):
            if message.uid <= checkpoint.last_uid:
                continue  # another worker recorded it first
            try:
                outcome = self._one(batch, folder, message, refused, address, at, find_by_ref)
            except OpenLimitReached:
                limit_reached = True
                break
            outcomes[outcome] += 1
            covered.append(message.uid)
        if covered:
            checkpoint.advance(covered[-1], len(covered), at=at)
        return Ingested(
            last_uid=checkpoint.last_uid,
            covered=tuple(covered),
            outcomes=dict(outcomes),
            limit_reached=limit_reached,
            position=batch.commit(),
        )

    def _one(
        self,
        batch: Batch,
        folder: Folder,
        message: FetchedEmail,
        refused: dict[int, str],
        address: str,
        at: datetime,
        find_by_ref: FindByRef,
    ) -> str:
        email = None if message.uid in refused else message.email
        if email is None:
            reason = refused.get(message.uid) or message.problem
            return self._quarantine_in(batch, folder, message, reason)
        try:
            _, outcome = self.deliver(
                batch,
                folder.company_id,
                email,
                recipient=address,
                arrived_at=message.arrived_at,
                at=at,
                find_by_ref=find_by_ref,
            )
        except OpenLimitReached:
            raise
        except DomainError as error:  # partly applied to the batch: rebuild it without
            raise _Refused(message.uid, f"{error.code}: {error}") from error
        return outcome

    def _checkpoint_in(self, batch: Batch, folder: Folder, at: datetime) -> MailboxCheckpoint:
        checkpoint = self.checkpoint(folder)
        if checkpoint is None:
            checkpoint = MailboxCheckpoint(
                company_id=folder.company_id,
                mailbox_id=folder.mailbox_id,
                folder=folder.name,
                uidvalidity=folder.uidvalidity,
                timestamp=at,
            )
        checkpoint.follow(folder.uidvalidity, at=at)
        batch.add(checkpoint)
        return checkpoint

    def _quarantine_in(
        self, batch: Batch, folder: Folder, message: FetchedEmail, reason: str
    ) -> str:
        """Once per company and content, however often the same bytes are fetched."""
        quarantine_id = quarantine_id_for(folder.company_id, message.blob)
        if quarantine_id in batch.loaded or quarantine_id in self.repository:
            return "duplicate"
        batch.add(
            QuarantinedMessage(
                id=quarantine_id,
                company_id=folder.company_id,
                blob=message.blob,
                reason=reason[:1000],
                source=folder.source,
                actor="system",
                timestamp=message.arrived_at,
            )
        )
        return "quarantined"

    @retried_on_conflict
    def retry_quarantined(
        self,
        quarantine_id: UUID,
        company_id: UUID,
        email: InboundEmail,
        *,
        by: Actor,
        at: datetime,
        find_by_ref: FindByRef,
    ) -> Delivery:
        """Runs the inbound path again on quarantined bytes (parsed anew by the caller);
        the record is released with the interaction it went to, in the same transaction."""
        batch = self.batch()
        record = self.quarantined(quarantine_id, company_id)
        if record.released:
            raise RuleViolated(f"quarantined message {quarantine_id} was already released")
        interaction_id, outcome = self.deliver(
            batch,
            company_id,
            email,
            recipient=_recipient_of(batch.company(company_id), record.source),
            arrived_at=record.created_on,
            at=at,
            find_by_ref=find_by_ref,
        )
        record.release(interaction_id, actor=str(by), at=at)
        batch.add(record)
        return Delivery(interaction_id, batch.commit(), outcome)


def _mailbox_address(company: Company, mailbox_id: UUID) -> str:
    mailbox = company.mailboxes.get(str(mailbox_id))
    if mailbox is None:
        raise MailboxNotFound(f"company {company.id} has no mailbox {mailbox_id}")
    return str(mailbox["address"])


def _recipient_of(company: Company, source: str) -> str | None:
    """The mailbox an IMAP-quarantined message was fetched from, if it still exists."""
    kind, _, rest = source.partition(":")
    mailbox = company.mailboxes.get(rest.partition(":")[0]) if kind == "imap" else None
    return None if mailbox is None else str(mailbox["address"])
