"""Random command sequences on the ContactCenter (in-memory store), checked against a model.

For every command the model predicts either the domain errors that may refuse it, or the new
state. A refused command must store nothing; after every step the stored aggregates must agree
with the model and with the rules that hold across aggregates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from domain.actors import OPERATOR, Actor
from domain.application import ContactCenter, Saved
from domain.errors import (
    AgentNotFound,
    AgentUnavailable,
    AlreadyTaken,
    DispositionRequired,
    DomainError,
    InvalidInput,
    InvalidTransition,
    NoDraft,
    NotOffered,
    NotOwner,
    NotQueueMember,
    OfferedToAnotherAgent,
    OpenLimitReached,
    RuleViolated,
    UnknownDisposition,
    UnknownSubstatus,
)
from domain.ids import interaction_id_for
from domain.interaction import Interaction, NoteAddressingRefused
from domain.messages import OWNED, InboundEmail, Status
from tests.fakes import FixedClock

POPO = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
COMPANY, Q1, Q2 = uuid4(), uuid4(), uuid4()
MAILBOXES = {"support@acme.test": Q1, "billing@acme.test": Q2}
ANN, BOB, CAT = Actor("agent", uuid4()), Actor("agent", uuid4()), Actor("agent", uuid4())
SUE, ADA = Actor("supervisor", uuid4()), Actor("admin", uuid4())
AGENTS, USERS = (ANN, BOB, CAT), (ANN, BOB, CAT, SUE, ADA)
BY_ID = {user.user_id: user for user in USERS}
STRANGER = uuid4()  # no user of the company
MEMBERSHIP = {ANN: [Q1], BOB: [Q2], CAT: [Q1, Q2], SUE: [], ADA: []}
OPEN_LIMIT = 4
TREE = [
    {"name": "Resolved", "children": [{"name": "Refund"}, {"name": "Advice"}]},
    {"name": "Spam"},
]
LEAVES = (["Resolved", "Refund"], ["Resolved", "Advice"], ["Spam"])
SUBSTATUSES = ("Pending", "Waiting for supplier")
STAGES = (Status.QUEUED, Status.OFFERED, Status.ACTIVE, Status.PARKED, Status.CLOSED)
FIRST_EMAILS = (  # mailbox, customer, and an agent of the mailbox's queue
    ("support@acme.test", "carol@customer.test", ANN),
    ("billing@acme.test", "dan@customer.test", BOB),
    ("support@acme.test", "dan@customer.test", CAT),
)

any_email = st.integers(0, 19)  # see InteractionLifecycle.pick
anyone = st.none() | st.sampled_from(USERS)  # None: whoever the email is most likely to meet
with_emails = precondition(lambda self: bool(self.emails))

Refusals = list[type[DomainError]]


def attempt(app: ContactCenter, refusals: Refusals, command: Callable[[], Any]) -> Any:
    """Runs `command`; returns its outcome, or None when it was refused.

    A refusal must be one of `refusals` and store nothing; an accepted command must have been
    expected to pass, and the aggregate it returns must equal the one reloaded from the store.
    """
    position = app.recorder.max_notification_id()
    refusal: DomainError | None = None
    try:
        outcome = command()
    except DomainError as error:
        refusal = error
    if refusal is not None:
        assert type(refusal) in refusals, f"refused with {refusal!r}, model expected {refusals}"
        assert app.recorder.max_notification_id() == position, "a refused command stored events"
        return None
    assert not refusals, f"accepted, but the model expected one of {refusals}"
    if isinstance(outcome, Saved):
        assert outcome.aggregate == app.repository.get(outcome.aggregate.id)
    return outcome


def set_up_company(app: ContactCenter, at: datetime, users: tuple[Actor, ...]) -> None:
    """Acme: two queues with a mailbox each, mandatory dispositions, one more sub-status."""
    app.create_company(
        COMPANY, name="Acme", timezone="Europe/Berlin", open_limit=OPEN_LIMIT, by=OPERATOR, at=at
    )
    for queue_id, name in ((Q1, "Support"), (Q2, "Billing")):
        app.create_queue(queue_id, COMPANY, name=name, priority=5, by=ADA, at=at)
    for address, queue_id in MAILBOXES.items():
        app.add_mailbox(COMPANY, uuid4(), address=address, default_queue_id=queue_id, by=ADA, at=at)
    for user in users:
        assert user.user_id is not None
        app.register_user(
            user.user_id,
            COMPANY,
            name=user.kind,
            email=f"{user.user_id}@acme.test",
            role=user.kind,
            queue_ids=MEMBERSHIP[user],
            capacity=5,
            token_hash=str(user.user_id),
            by=ADA,
            at=at,
        )
    app.define_dispositions(
        COMPANY, TREE, mandatory=True, default=None, timeout_seconds=None, by=ADA, at=at
    )
    app.define_substatuses(COMPANY, list(SUBSTATUSES), by=ADA, at=at)


@dataclass
class Email:
    """What the model expects of one interaction."""

    id: UUID
    mailbox: str
    customer: str
    first_message: str
    queue: UUID
    status: Status = Status.QUEUED
    owner: UUID | None = None
    offered_to: UUID | None = None
    rejected_by: list[UUID] = field(default_factory=list)
    active_since: datetime | None = None
    handling_ms: int = 0
    draft_author: UUID | None = None
    substatus: str | None = None
    unread: bool = True
    tags: list[str] = field(default_factory=list)
    disposition: list[str] | None = None
    continued_in: UUID | None = None

    def expected(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in OBSERVED}


OBSERVED = (
    "status",
    "queue",
    "owner",
    "offered_to",
    "rejected_by",
    "active_since",
    "handling_ms",
    "draft_author",
    "substatus",
    "unread",
    "tags",
    "disposition",
    "continued_in",
)


def observed(interaction: Interaction) -> dict[str, Any]:
    draft = interaction.draft
    return {
        "status": interaction.status,
        "queue": interaction.queue_id,
        "owner": interaction.owner,
        "offered_to": interaction.offered_to,
        "rejected_by": interaction.rejected_by,
        "active_since": interaction.active_since,
        "handling_ms": interaction.handling_ms,
        "draft_author": None if draft is None else UUID(draft["agent_id"]),
        "substatus": interaction.substatus,
        "unread": interaction.unread,
        "tags": interaction.tags,
        "disposition": interaction.disposition,
        "continued_in": interaction.continued_in,
    }


class InteractionLifecycle(RuleBasedStateMachine):
    """One company, two queues, three agents, a supervisor and an admin, and their email."""

    def __init__(self) -> None:
        super().__init__()
        self.app = ContactCenter(env=POPO)
        self.clock = FixedClock()
        set_up_company(self.app, self.clock.now, USERS)
        self.emails: dict[UUID, Email] = {}
        self.parked_for_call: dict[UUID, UUID | None] = {}  # agents on a call
        self.sent = 0
        self.loaded: tuple[int | None, list[Interaction]] = (None, [])

    # --- the model ------------------------------------------------------------------------

    @property
    def now(self) -> datetime:
        return self.clock.now

    @property
    def open_count(self) -> int:
        return sum(email.status != Status.CLOSED for email in self.emails.values())

    def active_of(self, user_id: UUID | None) -> Email | None:
        found = (
            e for e in self.emails.values() if e.owner == user_id and e.status == Status.ACTIVE
        )
        return next(found, None)

    def end_segment(self, email: Email) -> None:
        if email.active_since is not None:
            email.handling_ms += round((self.now - email.active_since).total_seconds() * 1000)
            email.active_since = None

    def make_active(self, email: Email, owner: UUID | None) -> None:
        """One email at a time: the owner's other active email is parked."""
        other = self.active_of(owner)
        if other is not None and other is not email:
            self.end_segment(other)
            other.status = Status.PARKED
        email.status, email.owner, email.active_since = Status.ACTIVE, owner, self.now

    def release(self, email: Email, queue: UUID) -> None:
        self.end_segment(email)
        email.status, email.queue, email.owner, email.offered_to = Status.QUEUED, queue, None, None
        email.rejected_by = []

    def not_owner(self, email: Email, who: Actor) -> Refusals:
        return [NotOwner] if who.is_agent and email.owner != who.user_id else []

    def run(self, refusals: Refusals, command: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        """`attempt` of an application command, in this company, now."""
        return attempt(self.app, refusals, lambda: command(*args, scope=COMPANY, at=self.now, **kw))

    # --- commands: each predicts its refusals, runs, and updates the model ---------------

    def write(self, mailbox: str, customer: str, answering: Email | None = None) -> Email | None:
        """The customer writes: a new interaction, or a message in the thread it answers."""
        thread = answering
        while thread is not None and thread.status == Status.CLOSED and thread.continued_in:
            thread = self.emails[thread.continued_in]
        opens = thread is None or thread.status == Status.CLOSED
        self.sent += 1
        inbound = InboundEmail(
            rfc_message_id=f"<{self.sent}@customer.test>",
            sender=customer,
            to=(mailbox,),
            in_reply_to=() if answering is None else (answering.first_message,),
        )
        refusals: Refusals = [OpenLimitReached] if opens and self.open_count >= OPEN_LIMIT else []
        delivery = attempt(
            self.app,
            refusals,
            lambda: self.app.receive_email(
                COMPANY,
                inbound,
                recipient=None,
                arrived_at=self.now,
                at=self.now,
                find_by_ref=lambda _company, _token: None,
            ),
        )
        if delivery is None:
            return None
        if thread is not None and not opens:
            thread.substatus, thread.unread = None, True
            assert (delivery.interaction_id, delivery.outcome) == (thread.id, "threaded")
            return thread
        rfc_id = inbound.rfc_message_id
        email = Email(
            interaction_id_for(COMPANY, rfc_id), mailbox, customer, rfc_id, MAILBOXES[mailbox]
        )
        self.emails[email.id] = email
        if thread is not None:
            thread.continued_in = email.id
        outcome = "created" if thread is None else "continued"
        assert (delivery.interaction_id, delivery.outcome) == (email.id, outcome)
        return email

    def offer(self, email: Email, agent: Actor) -> None:
        refusals: Refusals = [] if email.status == Status.QUEUED else [InvalidTransition]
        if agent.user_id in email.rejected_by:
            refusals.append(RuleViolated)

        def offer() -> Saved:  # no application command yet: load, offer, save
            interaction = self.app.interaction(email.id, COMPANY)
            interaction.offer(agent.user_id, {"why": "longest idle"}, at=self.now)
            return Saved(interaction, self.app.save(interaction)[-1].notification.id)

        if attempt(self.app, refusals, offer) is not None:
            email.status, email.offered_to = Status.OFFERED, agent.user_id

    def accept(self, email: Email, who: Actor) -> None:
        refusals: Refusals = []
        if who.is_agent and email.offered_to != who.user_id and email.queue not in MEMBERSHIP[who]:
            refusals.append(NotQueueMember)
        if email.status in OWNED and email.owner != who.user_id:
            refusals.append(AlreadyTaken)
        if email.status not in (Status.QUEUED, Status.OFFERED):
            refusals.append(InvalidTransition)
        elif email.status == Status.OFFERED and email.offered_to != who.user_id:
            refusals.append(OfferedToAnotherAgent)
        if self.run(refusals, self.app.accept, email.id, by=who) is not None:
            email.offered_to, email.unread, email.rejected_by = None, False, []
            self.make_active(email, who.user_id)

    def reject(self, email: Email, who: Actor) -> None:
        refusals: Refusals = [] if email.status == Status.OFFERED else [InvalidTransition]
        if email.offered_to != who.user_id:
            refusals.append(NotOffered)
        if self.run(refusals, self.app.reject, email.id, by=who) is not None:
            email.status, email.offered_to = Status.QUEUED, None
            email.rejected_by.append(who.user_id)

    def park(self, email: Email, who: Actor) -> None:
        refusals = self.not_owner(email, who)
        if email.status != Status.ACTIVE:
            refusals.append(InvalidTransition)
        if self.run(refusals, self.app.park, email.id, by=who) is not None:
            self.end_segment(email)
            email.status = Status.PARKED

    def resume(self, email: Email, who: Actor) -> None:
        refusals = self.not_owner(email, who)
        if email.status != Status.PARKED:
            refusals.append(InvalidTransition)
        if self.run(refusals, self.app.resume, email.id, by=who) is not None:
            self.make_active(email, email.owner)

    def transfer_to_agent(self, email: Email, who: Actor, to: Actor) -> None:
        refusals = self.not_owner(email, who)
        if email.status == Status.CLOSED:
            refusals.append(InvalidTransition)
        if to.user_id == email.owner:
            refusals.append(RuleViolated)
        if self.run(refusals, self.app.transfer_to_agent, email.id, to.user_id, by=who) is not None:
            self.end_segment(email)
            email.status, email.owner, email.offered_to = Status.PARKED, to.user_id, None

    def transfer_to_queue(self, email: Email, who: Actor, queue: UUID) -> None:
        refusals = self.not_owner(email, who)
        if email.status == Status.CLOSED:
            refusals.append(InvalidTransition)
        if queue == email.queue and email.status not in OWNED:
            refusals.append(RuleViolated)
        if self.run(refusals, self.app.transfer_to_queue, email.id, queue, by=who) is not None:
            self.release(email, queue)

    def return_to_queue(self, email: Email, who: Actor) -> None:
        refusals = self.not_owner(email, who)
        if email.status not in OWNED:
            refusals.append(InvalidTransition)
        if self.run(refusals, self.app.return_to_queue, email.id, by=who) is not None:
            self.release(email, email.queue)

    def close(self, email: Email, who: Actor, path: list[str]) -> None:
        refusals = self.not_owner(email, who)
        if not path:
            refusals.append(DispositionRequired)
        elif path not in LEAVES:
            refusals.append(UnknownDisposition)
        if email.status == Status.CLOSED:
            refusals.append(InvalidTransition)
        if self.run(refusals, self.app.close_interaction, email.id, path, by=who) is not None:
            self.end_segment(email)
            email.status, email.offered_to, email.disposition = Status.CLOSED, None, path
            email.owner, email.draft_author = None, None

    def reopen(self, email: Email, who: Actor) -> None:
        refusals: Refusals = [] if email.status == Status.CLOSED else [InvalidTransition]
        if self.run(refusals, self.app.reopen, email.id, by=who) is None:
            return
        email.disposition, email.substatus = None, None
        if who.is_agent:  # into their hands
            self.make_active(email, who.user_id)
        else:  # back to its queue
            self.release(email, email.queue)
            email.unread = True

    def add_note(self, email: Email, who: Actor, text: str, for_agent: UUID | None) -> None:
        refusals: Refusals = [] if text.strip() else [InvalidInput]
        if for_agent is not None and for_agent not in BY_ID:
            refusals.append(AgentNotFound)
        if for_agent is not None and who.kind not in ("supervisor", "admin"):
            refusals.append(NoteAddressingRefused)
        note_id = uuid4()
        added = self.run(
            refusals, self.app.add_note, email.id, note_id, text, by=who, for_agent_id=for_agent
        )
        if added is not None:
            [stored] = self.app.events.get(email.id, desc=True, limit=1)
            assert isinstance(stored, Interaction.NoteAdded)
            assert (stored.note_id, stored.text, stored.for_agent_id) == (
                note_id,
                text.strip(),
                for_agent,
            )

    def save_draft(self, email: Email, who: Actor) -> None:
        refusals: Refusals = [] if email.owner == who.user_id else [NotOwner]
        if email.status not in OWNED:
            refusals.append(InvalidTransition)
        if self.run(refusals, self.app.save_draft, email.id, {"body": "Hi"}, by=who) is not None:
            email.draft_author = who.user_id

    def discard_draft(self, email: Email, who: Actor) -> None:
        refusals: Refusals = [] if email.draft_author == who.user_id else [NoDraft]
        if self.run(refusals, self.app.discard_draft, email.id, by=who) is not None:
            email.draft_author = None

    def set_substatus(self, email: Email, who: Actor, substatus: str | None) -> None:
        refusals = self.not_owner(email, who)
        if substatus is None and email.substatus is None:
            refusals.append(RuleViolated)
        if substatus is not None and substatus not in SUBSTATUSES:
            refusals.append(UnknownSubstatus)
        if email.status == Status.CLOSED:
            refusals.append(InvalidTransition)
        if self.run(refusals, self.app.set_substatus, email.id, substatus, by=who) is not None:
            email.substatus = substatus

    def change_tags(self, email: Email, who: Actor, add: list[str], remove: list[str]) -> None:
        refusals: Refusals = [InvalidInput] if any(not t.strip() for t in add) else []
        changed = self.run(refusals, self.app.change_tags, email.id, add=add, remove=remove, by=who)
        if changed is not None:
            email.tags = [t for t in email.tags if t not in remove]
            email.tags += [t for t in dict.fromkeys(add) if t not in email.tags]

    def mark(self, email: Email, who: Actor, unread: bool) -> None:
        if self.run([], self.app.mark, email.id, unread=unread, by=who) is not None:
            email.unread = unread

    def start_call(self, agent: Actor) -> None:
        refusals: Refusals = [RuleViolated] if agent.user_id in self.parked_for_call else []
        if self.run(refusals, self.app.start_call, agent.user_id, by=agent) is None:
            return
        active = self.active_of(agent.user_id)  # voice outranks email: the system parks it
        self.parked_for_call[agent.user_id] = None if active is None else active.id
        if active is not None:
            self.end_segment(active)
            active.status = Status.PARKED

    def end_call(self, agent: Actor) -> None:
        refusals: Refusals = [] if agent.user_id in self.parked_for_call else [RuleViolated]
        if self.run(refusals, self.app.end_call, agent.user_id, by=agent) is None:
            return
        parked = self.emails.get(self.parked_for_call.pop(agent.user_id))
        still_held = parked is not None and parked.owner == agent.user_id and parked.status in OWNED
        if parked is not None and still_held and self.active_of(agent.user_id) is None:
            self.make_active(parked, agent.user_id)

    # --- rules: random choices of the commands above --------------------------------------

    def pick(self, n: int, who: Actor | None, *likely: Status) -> tuple[Email, Actor]:
        """An email (every other time one in a `likely` status, if there is one); and `who`,
        or else whoever that email is most likely to meet."""
        emails = list(self.emails.values())
        fitting = [e for e in emails if e.status in likely]
        pool = fitting if fitting and n % 2 == 0 else emails
        email = pool[n // 2 % len(pool)]
        if who is not None:
            return email, who
        person = email.offered_to or email.owner or email.draft_author
        if person is not None:
            return email, BY_ID[person]
        return email, next(a for a in AGENTS if email.queue in MEMBERSHIP[a])

    @initialize(stages=st.lists(st.sampled_from(STAGES), min_size=3, max_size=3))
    def three_customers_wrote_and_work_began(self, stages: list[Status]) -> None:
        """Each example starts from emails at varied stages, not from an empty inbox."""
        for (mailbox, customer, agent), stage in zip(FIRST_EMAILS, stages, strict=True):
            email = self.write(mailbox, customer)
            assert email is not None
            self.clock.advance(minutes=1)
            if stage == Status.OFFERED:
                self.offer(email, agent)
            if stage in (Status.ACTIVE, Status.PARKED, Status.CLOSED):
                self.accept(email, agent)
            self.clock.advance(minutes=5)
            if stage == Status.PARKED:
                self.park(email, agent)
            if stage == Status.CLOSED:
                self.close(email, agent, ["Spam"])

    @rule(seconds=st.integers(1, 3600))
    def time_passes(self, seconds: int) -> None:
        self.clock.advance(seconds=seconds)

    @precondition(lambda self: len(self.emails) < 6)
    @rule(mailbox=st.sampled_from(sorted(MAILBOXES)), customer=st.sampled_from(["a@x.t", "b@y.t"]))
    def a_customer_writes(self, mailbox: str, customer: str) -> None:
        self.write(mailbox, customer)

    @precondition(lambda self: 0 < len(self.emails) < 10)
    @rule(n=any_email)
    def the_customer_answers(self, n: int) -> None:
        email, _ = self.pick(n, None, Status.CLOSED)
        self.write(email.mailbox, email.customer, answering=email)

    @with_emails
    @rule(n=any_email, agent=st.sampled_from(AGENTS))
    def the_system_offers(self, n: int, agent: Actor) -> None:
        self.offer(self.pick(n, agent, Status.QUEUED)[0], agent)

    @with_emails
    @rule(n=any_email, who=anyone)
    def someone_accepts(self, n: int, who: Actor | None) -> None:
        self.accept(*self.pick(n, who, Status.QUEUED, Status.OFFERED))

    @with_emails
    @rule(n=any_email, who=anyone)
    def someone_rejects(self, n: int, who: Actor | None) -> None:
        self.reject(*self.pick(n, who, Status.OFFERED))

    @with_emails
    @rule(n=any_email, who=anyone)
    def someone_parks(self, n: int, who: Actor | None) -> None:
        self.park(*self.pick(n, who, Status.ACTIVE))

    @with_emails
    @rule(n=any_email, who=anyone)
    def someone_resumes(self, n: int, who: Actor | None) -> None:
        self.resume(*self.pick(n, who, Status.PARKED))

    @with_emails
    @rule(n=any_email, who=anyone, to=st.sampled_from((*AGENTS, SUE)))
    def someone_transfers_to_an_agent(self, n: int, who: Actor | None, to: Actor) -> None:
        self.transfer_to_agent(*self.pick(n, who, *OWNED), to)

    @with_emails
    @rule(n=any_email, who=anyone, queue=st.sampled_from((Q1, Q2)))
    def someone_transfers_to_a_queue(self, n: int, who: Actor | None, queue: UUID) -> None:
        self.transfer_to_queue(*self.pick(n, who, *OWNED), queue)

    @with_emails
    @rule(n=any_email, who=anyone)
    def someone_returns_it_to_its_queue(self, n: int, who: Actor | None) -> None:
        self.return_to_queue(*self.pick(n, who, *OWNED))

    @with_emails
    @rule(n=any_email, who=anyone, path=st.sampled_from([[], ["Resolved"], ["Lost"], *LEAVES]))
    def someone_closes(self, n: int, who: Actor | None, path: list[str]) -> None:
        self.close(*self.pick(n, who, *OWNED), path)

    @with_emails
    @rule(n=any_email, who=anyone)
    def someone_reopens(self, n: int, who: Actor | None) -> None:
        self.reopen(*self.pick(n, who, Status.CLOSED))

    @with_emails
    @rule(
        n=any_email,
        who=anyone,
        text=st.sampled_from(["Called the customer", "   "]),
        for_agent=st.none() | st.sampled_from([*(a.user_id for a in AGENTS), STRANGER]),
    )
    def someone_adds_a_note(
        self, n: int, who: Actor | None, text: str, for_agent: UUID | None
    ) -> None:
        """For everyone, or (supervisors and admins only) for one agent."""
        self.add_note(*self.pick(n, who), text, for_agent)

    @with_emails
    @rule(n=any_email, who=anyone)
    def someone_saves_a_draft(self, n: int, who: Actor | None) -> None:
        self.save_draft(*self.pick(n, who, *OWNED))

    @with_emails
    @rule(n=any_email, who=anyone)
    def someone_discards_a_draft(self, n: int, who: Actor | None) -> None:
        self.discard_draft(*self.pick(n, who, *OWNED))

    @with_emails
    @rule(n=any_email, who=anyone, substatus=st.sampled_from([None, "Lunch", *SUBSTATUSES]))
    def someone_sets_a_substatus(self, n: int, who: Actor | None, substatus: str | None) -> None:
        self.set_substatus(*self.pick(n, who, *OWNED), substatus)

    @with_emails
    @rule(
        n=any_email,
        who=anyone,
        add=st.lists(st.sampled_from(["vip", "refund", " "]), max_size=2),
        remove=st.lists(st.sampled_from(["vip", "refund"]), max_size=1),
    )
    def someone_changes_tags(
        self, n: int, who: Actor | None, add: list[str], remove: list[str]
    ) -> None:
        self.change_tags(*self.pick(n, who), add, remove)

    @with_emails
    @rule(n=any_email, who=anyone, unread=st.booleans())
    def someone_marks_it(self, n: int, who: Actor | None, unread: bool) -> None:
        self.mark(*self.pick(n, who), unread)

    @rule(agent=st.sampled_from(AGENTS))
    def an_agent_starts_a_call(self, agent: Actor) -> None:
        self.start_call(agent)

    @rule(agent=st.none() | st.sampled_from(AGENTS))
    def an_agent_ends_a_call(self, agent: Actor | None) -> None:
        self.end_call(agent or next((BY_ID[a] for a in self.parked_for_call), ANN))

    # --- invariants ------------------------------------------------------------------------

    def stored(self) -> list[Interaction]:
        """Every interaction rebuilt from the store (again only after the store changed)."""
        position = self.app.recorder.max_notification_id()
        if self.loaded[0] != position:
            self.loaded = (position, [self.app.interaction(i, COMPANY) for i in self.emails])
        return self.loaded[1]

    @invariant()
    def stored_interactions_agree_with_the_model(self) -> None:
        """Status, owner, queue, handling time (active segments only), draft, flags..."""
        for stored, email in zip(self.stored(), self.emails.values(), strict=True):
            assert observed(stored) == email.expected()

    @invariant()
    def an_interaction_has_an_owner_exactly_when_active_or_parked(self) -> None:
        for stored in self.stored():
            assert (stored.owner is not None) == (stored.status in OWNED)

    @invariant()
    def a_closed_interaction_has_a_disposition_from_the_tree(self) -> None:
        for stored in self.stored():
            if stored.status == Status.CLOSED:
                assert stored.disposition in LEAVES

    @invariant()
    def each_user_holds_what_they_own_and_works_on_at_most_one_email(self) -> None:
        for user in USERS:
            working = [s for s in self.stored() if s.owner == user.user_id and s.status == "active"]
            assert len(working) <= 1
            held = [
                e.id for e in self.emails.values() if e.owner == user.user_id and e.status in OWNED
            ]
            active = self.active_of(user.user_id)
            on_call = (user.user_id in self.parked_for_call, self.parked_for_call.get(user.user_id))
            agent = self.app.agent(user.user_id, COMPANY)
            assert (sorted(agent.held), agent.active) == (sorted(held), active and active.id)
            assert (agent.on_call, agent.parked_for_call) == on_call

    @invariant()
    def the_quota_counts_the_open_interactions(self) -> None:
        assert self.app.quota(COMPANY).open_count == self.open_count


TestInteractionLifecycle = InteractionLifecycle.TestCase
TestInteractionLifecycle.settings = settings(max_examples=80, stateful_step_count=50, deadline=None)


class AgentPresence(RuleBasedStateMachine):
    """One agent logging in and out, pausing and taking calls, in any order."""

    def __init__(self) -> None:
        super().__init__()
        self.app = ContactCenter(env=POPO)
        self.clock = FixedClock()
        set_up_company(self.app, self.clock.now, (ANN, SUE, ADA))
        self.logged_in, self.paused_reason, self.on_call = False, None, False

    def run(self, refusals: Refusals, command: Callable[..., Saved], *args: Any, by: Actor) -> bool:
        at = self.clock.advance(seconds=1)
        outcome = attempt(
            self.app, refusals, lambda: command(ANN.user_id, *args, scope=COMPANY, by=by, at=at)
        )
        return outcome is not None

    @rule(by=st.sampled_from([ANN, SUE]))
    def log_in(self, by: Actor) -> None:
        if self.run([RuleViolated] if self.logged_in else [], self.app.log_in, by=by):
            self.logged_in = True

    @rule(by=st.sampled_from([ANN, SUE]))
    def log_out(self, by: Actor) -> None:
        if self.run([] if self.logged_in else [RuleViolated], self.app.log_out, by=by):
            self.logged_in, self.paused_reason = False, None

    @rule(reason=st.sampled_from(["lunch", " training ", "  ", "x" * 101]))
    def pause(self, reason: str) -> None:
        refusals: Refusals = [] if self.logged_in else [AgentUnavailable]
        if self.paused_reason is not None:
            refusals.append(RuleViolated)
        if not 1 <= len(reason.strip()) <= 100:
            refusals.append(InvalidInput)
        if self.run(refusals, self.app.pause, reason, by=ANN):
            self.paused_reason = reason.strip()

    @rule()
    def unpause(self) -> None:
        if self.run([] if self.paused_reason else [RuleViolated], self.app.unpause, by=ANN):
            self.paused_reason = None

    @rule()
    def start_call(self) -> None:
        if self.run([RuleViolated] if self.on_call else [], self.app.start_call, by=ANN):
            self.on_call = True

    @rule()
    def end_call(self) -> None:
        if self.run([] if self.on_call else [RuleViolated], self.app.end_call, by=ANN):
            self.on_call = False

    @invariant()
    def stored_presence_agrees_with_the_model(self) -> None:
        agent = self.app.agent(ANN.user_id, COMPANY)
        model = (self.logged_in, self.paused_reason, self.on_call)
        assert (agent.logged_in, agent.paused_reason, agent.on_call) == model
        assert agent.is_available == (
            self.logged_in and not self.paused_reason and not self.on_call
        )


TestAgentPresence = AgentPresence.TestCase
TestAgentPresence.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)
