"""The outbox: what agents and the auto-reply policy queue, and what the sender delivered."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate

from domain.actors import Actor
from domain.application.base import Batch, Repositories, Saved, retried_on_conflict
from domain.auto_reply_ledger import AutoReplyLedger, ledger_id
from domain.errors import MessageNotFound, RuleViolated
from domain.ids import message_record_id
from domain.interaction import Interaction
from domain.messages import MessageInfo
from domain.records import MessageRecord

Kind = Literal["reply", "forward", "start", "auto_reply"]


@dataclass(frozen=True)
class FollowUp:
    """What happens to the interaction in the same transaction as queueing its email."""

    close: list[str] | None = None  # "send and close": the disposition path ([] for none)
    substatus: str | None = None  # "send as sub-status", e.g. Pending


class Outbox(Repositories):
    """Commands of agents sending email and of the SMTP sender worker."""

    @retried_on_conflict
    def send_reply(
        self,
        interaction_id: UUID,
        message: MessageInfo,
        *,
        forward: bool,
        then: FollowUp,
        scope: UUID,
        by: Actor,
        at: datetime,
    ) -> Saved:
        """Queue a reply or forward and, atomically, close it or set a sub-status."""
        batch = self.batch()
        interaction = batch.interaction(interaction_id, scope)
        interaction.queue_reply(message, by, forward=forward, at=at)
        batch.add(_record(interaction, message, at))
        if then.substatus is not None:
            checked = batch.company(interaction.company_id).check_substatus(then.substatus)
            interaction.set_substatus(checked, by, at=at)
        if then.close is not None:
            self._close(batch, interaction, then.close, by, at)
        return batch.saved(interaction)

    def _close(
        self, batch: Batch, interaction: Interaction, path: list[str], by: Actor, at: datetime
    ) -> None:
        company = batch.company(interaction.company_id)
        owner = interaction.owner
        checked = company.check_disposition(path)
        interaction.close(checked, by, required=company.disposition_mandatory, at=at)
        batch.quota(interaction.company_id).release(interaction.id, at=at)
        batch.track(interaction, owner, actor=by, at=at)

    @retried_on_conflict
    def record_delivery(
        self, interaction_id: UUID, record_id: str, *, kind: Kind, response: str, at: datetime
    ) -> int | None:
        """The server accepted the email; None if that was already recorded."""
        interaction = self.interaction(interaction_id)
        if record_id not in interaction.outbox:
            return None
        if kind == "auto_reply":
            interaction.record_auto_reply_sent(record_id, response, at=at)
        else:
            interaction.record_sent(record_id, response, forward=kind == "forward", at=at)
        return self.batch().saved(interaction).position

    @retried_on_conflict
    def record_send_failure(
        self, interaction_id: UUID, record_id: str, *, error: str, at: datetime
    ) -> int | None:
        """A permanent refusal, or retries exhausted; None if already settled."""
        interaction = self.interaction(interaction_id)
        if record_id not in interaction.outbox:
            return None
        interaction.record_send_failed(record_id, error[:2000], at=at)
        return self.batch().saved(interaction).position

    @retried_on_conflict
    def queue_auto_reply(
        self,
        interaction_id: UUID,
        message: MessageInfo,
        *,
        reason: str,
        answering: str,
        sender: str,
        arrived_at: datetime,
        window: timedelta,
        at: datetime,
    ) -> Saved | None:
        """At most one per inbound email, and per sender per window; None when refused."""
        batch = self.batch()
        interaction = batch.interaction(interaction_id)
        try:
            self.message_record(
                message_record_id(interaction.company_id, message["rfc_message_id"])
            )
        except MessageNotFound:
            pass
        else:
            return None  # decided before a crash: the first decision stands
        ledger = self._ledger(interaction.company_id, sender, at)
        if not ledger.allows(arrived_at, window):
            return None
        ledger.replied(interaction.id, arrived_at, window, at=at)
        interaction.queue_auto_reply(message, reason=reason, answering=answering, at=at)
        batch.add(ledger, _record(interaction, message, at))
        return batch.saved(interaction)

    def _ledger(self, company_id: UUID, sender: str, at: datetime) -> AutoReplyLedger:
        try:
            ledger: Aggregate = self.repository.get(ledger_id(company_id, sender))
        except AggregateNotFoundError:
            return AutoReplyLedger(company_id=company_id, sender=sender.casefold(), timestamp=at)
        if not isinstance(ledger, AutoReplyLedger):
            raise RuleViolated(f"aggregate {ledger.id} is not an auto-reply ledger")
        return ledger


def _record(interaction: Interaction, message: MessageInfo, at: datetime) -> MessageRecord:
    """The Message-ID index entry that threads the customer's answer back."""
    return MessageRecord(
        company_id=interaction.company_id,
        rfc_message_id=message["rfc_message_id"],
        interaction_id=interaction.id,
        direction="out",
        blob=message["blob"],
        timestamp=at,
    )
