"""Interaction: one email conversation, from receipt to close (and reopen)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.actors import Actor
from domain.errors import (
    AlreadyTaken,
    DispositionRequired,
    InvalidInput,
    InvalidTransition,
    NoDraft,
    NotOffered,
    NotOwner,
    OfferedToAnotherAgent,
    RuleViolated,
)
from domain.ids import short_ref
from domain.messages import OPEN, OWNED, MessageInfo, Status

MAX_NOTE = 10_000
MAX_TAG = 50
ADDRESSING_ROLES = frozenset({"supervisor", "admin"})


class NoteAddressingRefused(RuleViolated):
    """Only supervisors and admins address a note to one agent: the request is well formed,
    the rules refuse it to this caller (a rule, like `NotOwner`, hence 409 rather than 422)."""

    code = "note-addressing-refused"


class Interaction(Aggregate):
    """One customer email conversation. Commands check rules; `_` mutators only assign."""

    # Every event carries `actor`; its `timestamp` is the `at` the caller supplied.
    class Received(Aggregate.Created):
        company_id: UUID
        mailbox: str
        message: MessageInfo
        continues: UUID | None
        actor: str

    class Started(Aggregate.Created):
        company_id: UUID
        mailbox: str
        message: MessageInfo
        continues: UUID | None
        queue_id: UUID
        agent_id: UUID
        actor: str

        def apply(self, aggregate: Any) -> None:
            aggregate.queue_id, aggregate.owner = self.queue_id, self.agent_id
            aggregate.first_agent = self.agent_id
            aggregate.status, aggregate.active_since = Status.ACTIVE, self.timestamp
            aggregate.unread, aggregate.participants = False, _participants([], self.message)
            aggregate.outbox = [self.message["record_id"]]  # the first email waits to be sent

    class Routed(Aggregate.Event):
        queue_id: UUID
        rule_id: str | None
        rule_set_version: int
        reason: str
        actor: str

    class Offered(Aggregate.Event):
        agent_id: UUID
        queue_id: UUID | None
        reason: dict[str, Any]
        actor: str

    class OfferRejected(Aggregate.Event):
        agent_id: UUID | None
        actor: str

    class OfferExpired(Aggregate.Event):
        agent_id: UUID | None
        actor: str

    class Accepted(Aggregate.Event):
        agent_id: UUID | None
        queue_id: UUID | None  # carried so that projections never load the aggregate
        actor: str

    class Parked(Aggregate.Event):
        agent_id: UUID | None
        segment_started_at: datetime | None
        segment_ms: int
        actor: str

    class Resumed(Aggregate.Event):
        agent_id: UUID | None
        actor: str

    class ReplyQueued(Aggregate.Event):
        agent_id: UUID | None
        message: MessageInfo
        actor: str

    class ForwardQueued(Aggregate.Event):
        agent_id: UUID | None
        message: MessageInfo
        actor: str

    class ReplySent(Aggregate.Event):
        record_id: str
        smtp_response: str
        actor: str

    class ForwardSent(Aggregate.Event):
        record_id: str
        smtp_response: str
        actor: str

    class SendFailed(Aggregate.Event):
        record_id: str
        error: str
        actor: str

    class MessageReceived(Aggregate.Event):
        message: MessageInfo
        actor: str

    class Transferred(Aggregate.Event):
        from_agent_id: UUID | None
        to_agent_id: UUID | None
        to_queue_id: UUID | None
        queue_id: UUID | None
        segment_ms: int
        actor: str

    class ReturnedToQueue(Aggregate.Event):
        agent_id: UUID | None
        queue_id: UUID | None
        segment_ms: int
        actor: str

    class NoteAdded(Aggregate.Event):
        note_id: UUID
        text: str
        actor: str
        # for that agent, supervisors and admins only; notes stored before it existed load as None
        for_agent_id: UUID | None = None

    class DraftSaved(Aggregate.Event):
        agent_id: UUID | None
        draft: dict[str, Any]
        actor: str

    class DraftDiscarded(Aggregate.Event):
        agent_id: UUID
        reason: str
        actor: str

    class SubstatusSet(Aggregate.Event):
        substatus: str
        actor: str

    class SubstatusCleared(Aggregate.Event):
        reason: str
        actor: str

    class Tagged(Aggregate.Event):
        tag: str
        actor: str

    class Untagged(Aggregate.Event):
        tag: str
        actor: str

    class MarkedUnread(Aggregate.Event):
        actor: str

    class MarkedRead(Aggregate.Event):
        actor: str

    class Closed(Aggregate.Event):
        disposition: list[str]
        agent_id: UUID | None
        queue_id: UUID | None
        segment_ms: int
        actor: str

    class Reopened(Aggregate.Event):
        agent_id: UUID | None
        queue_id: UUID | None
        actor: str

    class ContinuedIn(Aggregate.Event):
        interaction_id: UUID
        actor: str

    class AutoReplyQueued(Aggregate.Event):
        message: MessageInfo
        reason: str  # "acknowledgement" or "out_of_hours"
        answering: str  # record id of the inbound email it answers
        actor: str

    class AutoReplySent(Aggregate.Event):
        record_id: str
        smtp_response: str
        actor: str

    class BounceReceived(Aggregate.Event):
        message: MessageInfo
        bounced_message_id: str
        actor: str

    @event(Received)
    def __init__(
        self,
        *,
        id: UUID,
        company_id: UUID,
        mailbox: str,
        message: MessageInfo,
        continues: UUID | None,
        actor: str,
        timestamp: datetime,
    ) -> None:
        self.company_id, self.mailbox = company_id, mailbox
        self.status = Status.RECEIVED
        self.queue_id: UUID | None = None
        self.owner: UUID | None = None
        self.offered_to: UUID | None = None
        self.rejected_by: list[UUID] = []
        self.subject, self.customer = message["subject"], message["sender"]
        self.participants: list[str] = _participants([], message)
        self.message_ids: list[str] = [message["rfc_message_id"]]
        self.substatus: str | None = None
        self.tags: list[str] = []
        self.unread = True
        self.draft: dict[str, Any] | None = None
        self.handling_ms = 0
        self.active_since: datetime | None = None
        self.disposition: list[str] | None = None
        self.continues = continues
        self.continued_in: UUID | None = None
        self.outbox: list[str] = []
        self.first_agent: UUID | None = None
        self.last_agent: UUID | None = None  # who owned it when it was last closed

    @classmethod
    def start_outbound(
        cls,
        interaction_id: UUID,
        company_id: UUID,
        *,
        mailbox: str,
        queue_id: UUID,
        agent_id: UUID,
        message: MessageInfo,
        actor: Actor,
        at: datetime,
    ) -> Interaction:
        """An agent writes first: the interaction starts active, owned by its author."""
        return cls._create(
            cls.Started,
            id=interaction_id,
            company_id=company_id,
            mailbox=mailbox,
            message=message,
            continues=None,
            queue_id=queue_id,
            agent_id=agent_id,
            actor=str(actor),
            timestamp=at,
        )

    @property
    def short_ref(self) -> str:
        return short_ref(self.id)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN

    def handling_ms_at(self, at: datetime) -> int:
        """Handling time including the running segment, for live views."""
        return self.handling_ms + self._segment_ms(at)

    def _segment_ms(self, at: datetime) -> int:
        if self.active_since is None:
            return 0
        return max(0, round((at - self.active_since).total_seconds() * 1000))

    def _require(self, command: str, *allowed: Status) -> None:
        if self.status not in allowed:
            raise InvalidTransition(command, self.status, f"interaction {self.id}")

    def _require_owner(self, by: Actor) -> None:
        """Agents act only on what they own; supervisors, admins and the system may act on any."""
        if by.is_agent and self.owner != by.user_id:
            raise NotOwner(f"interaction {self.id} is not owned by agent {by.user_id}")

    def is_participant(self, address: str) -> bool:
        return address.casefold() in self.participants

    # --- routing and distribution -------------------------------------------------------

    def route(
        self, queue_id: UUID, rule_id: str | None, version: int, reason: str, *, at: datetime
    ) -> None:
        self._require("route", Status.RECEIVED)
        self._routed(
            queue_id=queue_id,
            rule_id=rule_id,
            rule_set_version=version,
            reason=reason,
            actor="system",
            timestamp=at,
        )

    def offer(self, agent_id: UUID, reason: dict[str, Any], *, at: datetime) -> None:
        self._require("offer", Status.QUEUED)
        if agent_id in self.rejected_by:
            raise RuleViolated(f"agent {agent_id} already rejected interaction {self.id}")
        self._offered(
            agent_id=agent_id, queue_id=self.queue_id, reason=reason, actor="system", timestamp=at
        )

    def reject_offer(self, by: Actor, *, at: datetime) -> None:
        self._require("reject", Status.OFFERED)
        if self.offered_to != by.user_id:
            raise NotOffered(f"interaction {self.id} is not offered to {by.user_id}")
        self._offer_rejected(agent_id=by.user_id, actor=str(by), timestamp=at)

    def expire_offer(self, *, at: datetime) -> None:
        self._require("expire the offer of", Status.OFFERED)
        self._offer_expired(agent_id=self.offered_to, actor="system", timestamp=at)

    def end_offer_round(self, *, at: datetime) -> None:
        """Everyone who could take it rejected it: back to the queue, visibly, for a new round."""
        self._require("end the offer round of", Status.QUEUED)
        if not self.rejected_by:
            raise RuleViolated(f"nobody rejected interaction {self.id} in this round")
        self._returned_to_queue(
            agent_id=None, queue_id=self.queue_id, segment_ms=0, actor="system", timestamp=at
        )

    def accept(self, by: Actor, *, at: datetime) -> None:
        if self.status in OWNED and self.owner != by.user_id:
            raise AlreadyTaken(f"interaction {self.id} was accepted by another agent")
        self._require("accept", Status.QUEUED, Status.OFFERED)
        if self.status == Status.OFFERED and self.offered_to != by.user_id:
            raise OfferedToAnotherAgent(f"interaction {self.id} is offered to another agent")
        self._accepted(agent_id=by.user_id, queue_id=self.queue_id, actor=str(by), timestamp=at)

    # --- working it ---------------------------------------------------------------------

    def park(self, by: Actor, *, at: datetime) -> None:
        self._require("park", Status.ACTIVE)
        self._require_owner(by)
        self._parked(
            agent_id=self.owner,
            segment_started_at=self.active_since,
            segment_ms=self._segment_ms(at),
            actor=str(by),
            timestamp=at,
        )

    def resume(self, by: Actor, *, at: datetime) -> None:
        self._require("resume", Status.PARKED)
        self._require_owner(by)
        self._resumed(agent_id=self.owner, actor=str(by), timestamp=at)

    def queue_reply(self, message: MessageInfo, by: Actor, *, forward: bool, at: datetime) -> None:
        self._require("forward" if forward else "reply to", Status.ACTIVE)
        self._require_owner(by)
        mutator = self._forward_queued if forward else self._reply_queued
        mutator(agent_id=self.owner, message=message, actor=str(by), timestamp=at)

    def record_sent(self, record_id: str, response: str, *, forward: bool, at: datetime) -> None:
        if record_id not in self.outbox:
            raise RuleViolated(f"message {record_id} is not waiting in the outbox of {self.id}")
        mutator = self._forward_sent if forward else self._reply_sent
        mutator(record_id=record_id, smtp_response=response, actor="system", timestamp=at)

    def record_send_failed(self, record_id: str, error: str, *, at: datetime) -> None:
        if record_id not in self.outbox:
            raise RuleViolated(f"message {record_id} is not waiting in the outbox of {self.id}")
        self._send_failed(record_id=record_id, error=error, actor="system", timestamp=at)

    def queue_auto_reply(
        self, message: MessageInfo, *, reason: str, answering: str, at: datetime
    ) -> None:
        """An automatic answer (RFC 3834) waits in the outbox like any other email."""
        if message["rfc_message_id"] in self.message_ids:
            raise RuleViolated(f"message {message['rfc_message_id']} is already in {self.id}")
        self._auto_reply_queued(
            message=message, reason=reason, answering=answering, actor="system", timestamp=at
        )

    def record_auto_reply_sent(self, record_id: str, response: str, *, at: datetime) -> None:
        if record_id not in self.outbox:
            raise RuleViolated(f"message {record_id} is not waiting in the outbox of {self.id}")
        self._auto_reply_sent(
            record_id=record_id, smtp_response=response, actor="system", timestamp=at
        )

    def receive_bounce(
        self, message: MessageInfo, bounced_message_id: str, *, at: datetime
    ) -> None:
        """A delivery status notification about one of our emails, in any status.

        It stays out of `message_ids`, so answers go to the customer, never to the reporter."""
        self._bounce_received(
            message=message, bounced_message_id=bounced_message_id, actor="system", timestamp=at
        )

    def receive_message(self, message: MessageInfo, *, at: datetime) -> None:
        """The customer wrote again: unread, and any sub-status (e.g. Pending) is cleared."""
        if not self.is_open:
            raise InvalidTransition("add a customer message to", self.status)
        if message["rfc_message_id"] in self.message_ids:
            raise RuleViolated(f"message {message['rfc_message_id']} is already in {self.id}")
        if self.substatus is not None:
            self._substatus_cleared(reason="customer answered", actor="customer", timestamp=at)
        self._message_received(message=message, actor="customer", timestamp=at)

    def transfer_to_agent(self, agent_id: UUID, by: Actor, *, at: datetime) -> None:
        """The target becomes the owner; the email waits parked in their list."""
        self._require("transfer", *OPEN - {Status.RECEIVED})
        self._require_owner(by)
        if agent_id == self.owner:
            raise RuleViolated(f"interaction {self.id} is already owned by {agent_id}")
        self._transferred(
            from_agent_id=self.owner,
            to_agent_id=agent_id,
            to_queue_id=None,
            queue_id=self.queue_id,
            segment_ms=self._segment_ms(at),
            actor=str(by),
            timestamp=at,
        )

    def transfer_to_queue(self, queue_id: UUID, by: Actor, *, at: datetime) -> None:
        self._require("transfer", *OPEN - {Status.RECEIVED})
        self._require_owner(by)
        if queue_id == self.queue_id and self.status not in OWNED:
            raise RuleViolated(f"interaction {self.id} already waits in queue {queue_id}")
        self._transferred(
            from_agent_id=self.owner,
            to_agent_id=None,
            to_queue_id=queue_id,
            queue_id=queue_id,
            segment_ms=self._segment_ms(at),
            actor=str(by),
            timestamp=at,
        )

    def return_to_queue(self, by: Actor, *, at: datetime) -> None:
        self._require("return", *OWNED)
        self._require_owner(by)
        self._returned_to_queue(
            agent_id=self.owner,
            queue_id=self.queue_id,
            segment_ms=self._segment_ms(at),
            actor=str(by),
            timestamp=at,
        )

    def add_note(
        self,
        note_id: UUID,
        text: str,
        by: Actor,
        *,
        at: datetime,
        for_agent_id: UUID | None = None,
    ) -> None:
        """An internal note; `for_agent_id` addresses it to one agent (supervisors, admins)."""
        if not 1 <= len(text.strip()) <= MAX_NOTE:
            raise InvalidInput(f"a note is 1-{MAX_NOTE} characters")
        if for_agent_id is not None and by.kind not in ADDRESSING_ROLES:
            raise NoteAddressingRefused(
                f"{by} may not address a note on interaction {self.id} to one agent: "
                "only supervisors and admins may"
            )
        self._note_added(
            note_id=note_id,
            text=text.strip(),
            actor=str(by),
            for_agent_id=for_agent_id,
            timestamp=at,
        )

    def save_draft(self, draft: dict[str, Any], by: Actor, *, at: datetime) -> None:
        self._require("save a draft of", *OWNED)
        if self.owner != by.user_id:
            raise NotOwner(f"only the owner of interaction {self.id} keeps its draft")
        self._draft_saved(agent_id=by.user_id, draft=draft, actor=str(by), timestamp=at)

    def discard_draft(self, by: Actor, *, at: datetime) -> None:
        if self.draft is None or self.draft["agent_id"] != str(by.user_id):
            raise NoDraft(f"interaction {self.id} has no draft of {by.user_id}")
        self._draft_discarded(
            agent_id=UUID(self.draft["agent_id"]), reason="discarded", actor=str(by), timestamp=at
        )

    def set_substatus(self, substatus: str, by: Actor, *, at: datetime) -> None:
        self._require("set a sub-status on", *OPEN - {Status.RECEIVED})
        self._require_owner(by)
        self._substatus_set(substatus=substatus, actor=str(by), timestamp=at)

    def clear_substatus(self, by: Actor, *, at: datetime) -> None:
        self._require("clear the sub-status of", *OPEN - {Status.RECEIVED})
        if self.substatus is None:
            raise RuleViolated(f"interaction {self.id} has no sub-status")
        self._require_owner(by)
        self._substatus_cleared(reason="cleared", actor=str(by), timestamp=at)

    def tag(self, tags: list[str], by: Actor, *, at: datetime) -> None:
        wanted = list(dict.fromkeys(t.strip() for t in tags))
        if any(not 1 <= len(tag) <= MAX_TAG for tag in wanted):
            raise InvalidInput(f"tags are 1-{MAX_TAG} characters")
        for tag in wanted:
            if tag not in self.tags:
                self._tagged(tag=tag, actor=str(by), timestamp=at)

    def untag(self, tags: list[str], by: Actor, *, at: datetime) -> None:
        for tag in dict.fromkeys(t.strip() for t in tags):
            if tag in self.tags:
                self._untagged(tag=tag, actor=str(by), timestamp=at)

    def mark_unread(self, by: Actor, *, at: datetime) -> None:
        if not self.unread:
            self._marked_unread(actor=str(by), timestamp=at)

    def mark_read(self, by: Actor, *, at: datetime) -> None:
        if self.unread:
            self._marked_read(actor=str(by), timestamp=at)

    def close(self, disposition: list[str], by: Actor, *, required: bool, at: datetime) -> None:
        self._require("close", *OPEN - {Status.RECEIVED})
        if by.is_agent and self.owner != by.user_id:
            raise NotOwner(f"agent {by.user_id} does not own interaction {self.id}")
        if required and not disposition:
            raise DispositionRequired(f"closing interaction {self.id} needs a disposition")
        if self.draft is not None:
            self._draft_discarded(
                agent_id=UUID(str(self.draft["agent_id"])),
                reason="closed",
                actor=str(by),
                timestamp=at,
            )
        self._closed(
            disposition=disposition,
            agent_id=self.owner,
            queue_id=self.queue_id,
            segment_ms=self._segment_ms(at),
            actor=str(by),
            timestamp=at,
        )

    def reopen(self, by: Actor, *, at: datetime) -> None:
        """An agent reopens into their own hands; anyone else sends it back to its queue."""
        self._require("reopen", Status.CLOSED)
        agent_id = by.user_id if by.is_agent else None
        self._reopened(agent_id=agent_id, queue_id=self.queue_id, actor=str(by), timestamp=at)

    def link_continuation(self, interaction_id: UUID, *, at: datetime) -> None:
        self._require("continue", Status.CLOSED)
        if self.continued_in is not None:
            raise RuleViolated(f"interaction {self.id} already continues in {self.continued_in}")
        self._continued_in(interaction_id=interaction_id, actor="customer", timestamp=at)

    # --- mutators: they run again on every replay, so they only assign ---------------------

    def _end_segment(self, segment_ms: int) -> None:
        self.handling_ms += segment_ms
        self.active_since = None

    def _release(self, queue_id: UUID | None) -> None:
        self.status, self.queue_id, self.owner, self.offered_to = (
            Status.QUEUED,
            queue_id,
            None,
            None,
        )
        self.rejected_by = []

    @event(Routed)
    def _routed(
        self,
        queue_id: UUID,
        rule_id: str | None,
        rule_set_version: int,
        reason: str,
        actor: str,
        timestamp: datetime,
    ) -> None:
        self._release(queue_id)

    @event(Offered)
    def _offered(
        self,
        agent_id: UUID,
        queue_id: UUID | None,
        reason: dict[str, Any],
        actor: str,
        timestamp: datetime,
    ) -> None:
        self.status, self.offered_to = Status.OFFERED, agent_id

    @event(OfferRejected)
    def _offer_rejected(self, agent_id: UUID | None, actor: str, timestamp: datetime) -> None:
        self._offer_withdrawn(agent_id)

    @event(OfferExpired)
    def _offer_expired(self, agent_id: UUID | None, actor: str, timestamp: datetime) -> None:
        self._offer_withdrawn(agent_id)

    def _offer_withdrawn(self, agent_id: UUID | None) -> None:
        """Back to waiting; this agent is not offered it again in this round."""
        self.status, self.offered_to = Status.QUEUED, None
        if agent_id is not None:
            self.rejected_by.append(agent_id)

    @event(Accepted)
    def _accepted(
        self, agent_id: UUID | None, queue_id: UUID | None, actor: str, timestamp: datetime
    ) -> None:
        self.status, self.owner, self.offered_to = Status.ACTIVE, agent_id, None
        self.active_since, self.unread, self.rejected_by = timestamp, False, []
        self.first_agent = self.first_agent or agent_id

    @event(Parked)
    def _parked(
        self,
        agent_id: UUID | None,
        segment_started_at: datetime | None,
        segment_ms: int,
        actor: str,
        timestamp: datetime,
    ) -> None:
        self.status = Status.PARKED
        self._end_segment(segment_ms)

    @event(Resumed)
    def _resumed(self, agent_id: UUID | None, actor: str, timestamp: datetime) -> None:
        self.status, self.active_since = Status.ACTIVE, timestamp

    @event(ReplyQueued)
    def _reply_queued(
        self, agent_id: UUID | None, message: MessageInfo, actor: str, timestamp: datetime
    ) -> None:
        self.outbox.append(message["record_id"])
        self.message_ids.append(message["rfc_message_id"])
        self.participants = _participants(self.participants, message)

    @event(ForwardQueued)
    def _forward_queued(
        self, agent_id: UUID | None, message: MessageInfo, actor: str, timestamp: datetime
    ) -> None:
        self.outbox.append(message["record_id"])
        self.message_ids.append(message["rfc_message_id"])

    @event(ReplySent)
    def _reply_sent(
        self, record_id: str, smtp_response: str, actor: str, timestamp: datetime
    ) -> None:
        self.outbox.remove(record_id)

    @event(ForwardSent)
    def _forward_sent(
        self, record_id: str, smtp_response: str, actor: str, timestamp: datetime
    ) -> None:
        self.outbox.remove(record_id)

    @event(SendFailed)
    def _send_failed(self, record_id: str, error: str, actor: str, timestamp: datetime) -> None:
        self.outbox.remove(record_id)

    @event(MessageReceived)
    def _message_received(self, message: MessageInfo, actor: str, timestamp: datetime) -> None:
        self.unread = True
        self.message_ids.append(message["rfc_message_id"])
        self.participants = _participants(self.participants, message)

    @event(Transferred)
    def _transferred(
        self,
        from_agent_id: UUID | None,
        to_agent_id: UUID | None,
        to_queue_id: UUID | None,
        queue_id: UUID | None,
        segment_ms: int,
        actor: str,
        timestamp: datetime,
    ) -> None:
        self._end_segment(segment_ms)
        if to_agent_id is None:
            self._release(queue_id)
        else:
            self.status, self.owner, self.offered_to = Status.PARKED, to_agent_id, None

    @event(ReturnedToQueue)
    def _returned_to_queue(
        self,
        agent_id: UUID | None,
        queue_id: UUID | None,
        segment_ms: int,
        actor: str,
        timestamp: datetime,
    ) -> None:
        self._end_segment(segment_ms)
        self._release(queue_id)

    @event(NoteAdded)
    def _note_added(
        self,
        note_id: UUID,
        text: str,
        actor: str,
        timestamp: datetime,
        for_agent_id: UUID | None = None,  # absent from notes stored before it existed
    ) -> None:
        pass

    @event(DraftSaved)
    def _draft_saved(
        self, agent_id: UUID | None, draft: dict[str, Any], actor: str, timestamp: datetime
    ) -> None:
        self.draft = {**draft, "agent_id": str(agent_id), "saved_at": timestamp.isoformat()}

    @event(DraftDiscarded)
    def _draft_discarded(
        self, agent_id: UUID, reason: str, actor: str, timestamp: datetime
    ) -> None:
        self.draft = None

    @event(SubstatusSet)
    def _substatus_set(self, substatus: str, actor: str, timestamp: datetime) -> None:
        self.substatus = substatus

    @event(SubstatusCleared)
    def _substatus_cleared(self, reason: str, actor: str, timestamp: datetime) -> None:
        self.substatus = None

    @event(Tagged)
    def _tagged(self, tag: str, actor: str, timestamp: datetime) -> None:
        self.tags.append(tag)

    @event(Untagged)
    def _untagged(self, tag: str, actor: str, timestamp: datetime) -> None:
        self.tags.remove(tag)

    @event(MarkedUnread)
    def _marked_unread(self, actor: str, timestamp: datetime) -> None:
        self.unread = True

    @event(MarkedRead)
    def _marked_read(self, actor: str, timestamp: datetime) -> None:
        self.unread = False

    @event(Closed)
    def _closed(
        self,
        disposition: list[str],
        agent_id: UUID | None,
        queue_id: UUID | None,
        segment_ms: int,
        actor: str,
        timestamp: datetime,
    ) -> None:
        self._end_segment(segment_ms)
        self.status, self.offered_to, self.disposition = Status.CLOSED, None, disposition
        self.owner, self.last_agent = None, agent_id

    @event(Reopened)
    def _reopened(
        self, agent_id: UUID | None, queue_id: UUID | None, actor: str, timestamp: datetime
    ) -> None:
        self.disposition, self.substatus = None, None
        if agent_id is None:
            self._release(queue_id)
            self.unread = True
        else:
            self.status, self.owner, self.active_since = Status.ACTIVE, agent_id, timestamp

    @event(AutoReplyQueued)
    def _auto_reply_queued(
        self, message: MessageInfo, reason: str, answering: str, actor: str, timestamp: datetime
    ) -> None:
        self.outbox.append(message["record_id"])
        self.message_ids.append(message["rfc_message_id"])

    @event(AutoReplySent)
    def _auto_reply_sent(
        self, record_id: str, smtp_response: str, actor: str, timestamp: datetime
    ) -> None:
        self.outbox.remove(record_id)

    @event(BounceReceived)
    def _bounce_received(
        self, message: MessageInfo, bounced_message_id: str, actor: str, timestamp: datetime
    ) -> None:
        self.unread = True

    @event(ContinuedIn)
    def _continued_in(self, interaction_id: UUID, actor: str, timestamp: datetime) -> None:
        self.continued_in = interaction_id


def _participants(current: list[str], message: MessageInfo) -> list[str]:
    """External addresses of the conversation: who wrote in, and whom we wrote to."""
    if message["direction"] == "in":
        found = [message["sender"]]
    else:
        found = [*message["to"], *message["cc"]]
    return sorted(set(current) | {a.casefold() for a in found})
