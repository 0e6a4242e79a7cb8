"""Email arriving (threading, routing, the open limit) and email an agent starts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID
from zoneinfo import ZoneInfo

from domain.actors import CUSTOMER, Actor
from domain.application.base import Batch, Repositories, Saved, retried_on_conflict
from domain.company import Company
from domain.errors import InteractionNotFound, MessageNotFound, QueueClosed, UnknownRecipient
from domain.ids import interaction_id_for, message_record_id
from domain.interaction import Interaction
from domain.messages import InboundEmail, MessageInfo
from domain.records import MessageRecord, QuarantinedMessage
from domain.routing import RoutingInput, route

FindByRef = Callable[[UUID, str], UUID | None]
Outcome = Literal["created", "continued", "threaded", "duplicate", "bounced"]


@dataclass(frozen=True)
class Delivery:
    """Where an inbound email went."""

    interaction_id: UUID
    position: int
    outcome: Outcome


class Inbound(Repositories):
    """The one path every inbound email takes, from the HTTP API or from IMAP."""

    def mailbox_for(
        self, company: Company, recipient: str | None, email: InboundEmail
    ) -> dict[str, Any]:
        """The envelope recipient names the mailbox; else the first of ours among recipients."""
        candidates = (
            [recipient] if recipient else [*email.envelope_recipients, *email.to, *email.cc]
        )
        for address in candidates:
            if address and (mailbox := company.mailbox_by_address(address)) is not None:
                return mailbox
        raise UnknownRecipient(f"no mailbox of company {company.id} among {candidates}")

    @retried_on_conflict
    def receive_email(
        self,
        company_id: UUID,
        email: InboundEmail,
        *,
        recipient: str | None,
        arrived_at: datetime,
        at: datetime,
        find_by_ref: FindByRef,
        enforce_limit: bool = True,
    ) -> Delivery:
        batch = self.batch()
        interaction_id, outcome = self.deliver(
            batch,
            company_id,
            email,
            recipient=recipient,
            arrived_at=arrived_at,
            at=at,
            find_by_ref=find_by_ref,
            enforce_limit=enforce_limit,
        )
        if outcome == "duplicate":
            return Delivery(interaction_id, self.recorder.max_notification_id() or 0, outcome)
        return Delivery(interaction_id, batch.commit(), outcome)

    def deliver(
        self,
        batch: Batch,
        company_id: UUID,
        email: InboundEmail,
        *,
        recipient: str | None,
        arrived_at: datetime,
        at: datetime,
        find_by_ref: FindByRef,
        enforce_limit: bool = True,
    ) -> tuple[UUID, Outcome]:
        """Records one inbound email into `batch`, unsaved: the HTTP and IMAP paths share it.

        Emails recorded earlier in the same batch count: a repeated Message-ID is a duplicate
        and a reply threads, as if they had been saved one by one.
        """
        record_id = message_record_id(company_id, email.rfc_message_id)
        try:
            known = batch.message_record(record_id, company_id)
        except MessageNotFound:
            pass
        else:
            return known.interaction_id, "duplicate"
        company = batch.company(company_id)
        mailbox = self.mailbox_for(company, recipient, email)
        info = email.info(record_id)
        bounced = self._bounced(batch, company_id, email)
        thread = None if bounced else self._thread_of(batch, company_id, email, find_by_ref)
        outcome: Literal["created", "continued", "threaded", "bounced"]
        if bounced is not None:  # a DSN joins the conversation it reports on, in any status
            bounced[0].receive_bounce(info, bounced[1], at=arrived_at)
            thread, outcome = bounced[0], "bounced"
        elif thread is not None and thread.is_open:
            thread.receive_message(info, at=arrived_at)
            outcome = "threaded"
        else:
            new = self._open(
                batch, company, mailbox, email, info, thread, arrived_at, at, enforce_limit
            )
            outcome = "created" if thread is None else "continued"
            thread = new
        batch.add(
            MessageRecord(
                company_id=company_id,
                rfc_message_id=email.rfc_message_id,
                interaction_id=thread.id,
                direction="in",
                blob=email.blob,
                timestamp=arrived_at,
            )
        )
        return thread.id, outcome

    def _open(
        self,
        batch: Batch,
        company: Company,
        mailbox: dict[str, Any],
        email: InboundEmail,
        info: MessageInfo,
        previous: Interaction | None,
        arrived_at: datetime,
        at: datetime,
        enforce_limit: bool,
    ) -> Interaction:
        interaction_id = interaction_id_for(company.id, email.rfc_message_id)
        batch.quota(company.id).reserve(
            interaction_id, limit=company.open_limit if enforce_limit else None, at=arrived_at
        )
        interaction = Interaction(
            id=interaction_id,
            company_id=company.id,
            mailbox=mailbox["address"],
            message=info,
            continues=None if previous is None else previous.id,
            actor=str(CUSTOMER),
            timestamp=arrived_at,
        )
        decision = route(
            company.rules(),
            RoutingInput(
                sender=email.sender,
                to=email.to,
                cc=email.cc,
                subject=email.subject,
                mailbox=mailbox["address"],
                arrived_at=arrived_at,
                envelope_recipients=email.envelope_recipients,
            ),
            version=company.routing_version,
            tz=ZoneInfo(company.timezone),
            default_queue_id=mailbox["default_queue_id"],
        )
        interaction.route(
            UUID(decision.queue_id),
            decision.rule_id,
            decision.rule_set_version,
            decision.reason,
            at=max(at, arrived_at),
        )
        if previous is not None:
            previous.link_continuation(interaction_id, at=arrived_at)
        batch.add(interaction)
        return interaction

    def _bounced(
        self, batch: Batch, company_id: UUID, email: InboundEmail
    ) -> tuple[Interaction, str] | None:
        """The first of our own emails a delivery report names, and its interaction."""
        for rfc_id in email.bounce_of:
            try:
                record = batch.message_record(message_record_id(company_id, rfc_id), company_id)
            except MessageNotFound:
                continue
            if record.direction == "out":
                return batch.interaction(record.interaction_id, company_id), rfc_id
        return None

    def _thread_of(
        self, batch: Batch, company_id: UUID, email: InboundEmail, find_by_ref: FindByRef
    ) -> Interaction | None:
        """The conversation this email answers: by Message-ID, then by `[#REF]` token.

        Only when the sender takes part in it; a closed one is followed to its continuation.
        """
        found: list[UUID] = []
        for rfc_id in email.thread_candidates():
            try:
                found.append(
                    batch.message_record(
                        message_record_id(company_id, rfc_id), company_id
                    ).interaction_id
                )
            except MessageNotFound:
                continue
        found += [i for token in email.ref_tokens if (i := find_by_ref(company_id, token))]
        for interaction_id in dict.fromkeys(found):
            try:
                interaction = batch.interaction(interaction_id, company_id)
            except InteractionNotFound:
                continue
            if interaction.is_participant(email.sender):
                while not interaction.is_open and interaction.continued_in is not None:
                    interaction = batch.interaction(interaction.continued_in, company_id)
                return interaction
        return None

    @retried_on_conflict
    def start_outbound(
        self,
        interaction_id: UUID,
        company_id: UUID,
        *,
        mailbox_id: UUID,
        queue_id: UUID,
        message: MessageInfo,
        by: Actor,
        at: datetime,
    ) -> Saved:
        """An agent's new email: counts against the open limit, never refused by it."""
        assert by.user_id is not None
        batch = self.batch()
        company = batch.company(company_id)
        mailbox = company.mailboxes.get(str(mailbox_id))
        if mailbox is None:
            raise UnknownRecipient(f"company {company_id} has no mailbox {mailbox_id}")
        if batch.queue(queue_id, company_id).is_closed:
            raise QueueClosed(f"queue {queue_id} is closed")
        batch.park_active_of(by.user_id, keep=interaction_id, at=at)
        batch.quota(company_id).reserve(interaction_id, limit=None, at=at)
        interaction = Interaction.start_outbound(
            interaction_id,
            company_id,
            mailbox=mailbox["address"],
            queue_id=queue_id,
            agent_id=by.user_id,
            message=message,
            actor=by,
            at=at,
        )
        batch.add(
            interaction,
            MessageRecord(
                company_id=company_id,
                rfc_message_id=message["rfc_message_id"],
                interaction_id=interaction_id,
                direction="out",
                blob=message["blob"],
                timestamp=at,
            ),
        )
        batch.track(interaction, by.user_id, actor=by, at=at)
        return batch.saved(interaction)

    def quarantine(
        self,
        quarantine_id: UUID,
        company_id: UUID,
        *,
        blob: str,
        reason: str,
        source: str,
        at: datetime,
    ) -> Saved:
        record = QuarantinedMessage(
            id=quarantine_id,
            company_id=company_id,
            blob=blob,
            reason=reason[:1000],
            source=source,
            actor="system",
            timestamp=at,
        )
        return self.batch().saved(record)
