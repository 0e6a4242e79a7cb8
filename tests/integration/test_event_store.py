"""The event store for real, on SQLite and PostgreSQL.

Every event type of every aggregate makes the round trip with its types intact; aggregates and
their snapshots reload equal to the ones in memory; of two writers of one interaction exactly
one wins.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.domain import Aggregate, DomainEventProtocol
from eventsourcing.persistence import IntegrityError

from adapters.persistence import Persistence
from domain.actors import OPERATOR, Actor
from domain.application import ContactCenter, Saved
from domain.checkpoint import MailboxCheckpoint
from domain.distribution import DistributionSettings
from domain.errors import AlreadyTaken, DomainError
from domain.ids import contact_id_for, token_id
from domain.interaction import Interaction
from domain.messages import AttachmentInfo, InboundEmail, MessageInfo
from domain.quota import CompanyQuota
from tests.fakes import FixedClock

TREE = [{"name": "Resolved", "children": [{"name": "Refund"}]}, {"name": "Spam"}]


class RecordingContactCenter(ContactCenter):
    """The ContactCenter, keeping the in-memory aggregates and events it saves."""

    name = "ContactCenter"

    def __init__(self, env: dict[str, str] | None = None) -> None:
        super().__init__(env)
        self.in_memory: dict[UUID, Aggregate] = {}
        self.events_in_memory: list[DomainEventProtocol[UUID]] = []

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        for obj in objs:
            if isinstance(obj, Aggregate) and obj.pending_events:
                self.in_memory[obj.id] = obj
                self.events_in_memory += obj.pending_events
        return super().save(*objs, **kwargs)


@pytest.fixture
def app(persistence: Persistence) -> Iterator[RecordingContactCenter]:
    app = RecordingContactCenter(env=persistence.application_env())
    yield app
    app.close()


@dataclass
class Acme:
    """A company with one queue and one mailbox, two agents, a supervisor and an admin."""

    app: RecordingContactCenter
    clock: FixedClock
    id: UUID
    queue: UUID
    mailbox: UUID
    ann: Actor
    bob: Actor
    sue: Actor
    ada: Actor

    def at(self) -> datetime:
        return self.clock.advance(seconds=30)

    def write(self, rfc_message_id: str, **headers: Any) -> UUID:
        """A customer email arrives; returns the interaction it went to."""
        email = InboundEmail(
            rfc_message_id=rfc_message_id,
            sender="Carol@Customer.test",
            to=("support@acme.test",),
            **headers,
        )
        at = self.at()
        return self.app.receive_email(
            self.id, email, recipient=None, arrived_at=at, at=at, find_by_ref=lambda _c, _t: None
        ).interaction_id


@pytest.fixture
def acme(app: RecordingContactCenter) -> Acme:
    clock, ada = FixedClock(), Actor("admin", uuid4())
    company_id, queue_id, mailbox_id = uuid4(), uuid4(), uuid4()
    ann, bob, sue = Actor("agent", uuid4()), Actor("agent", uuid4()), Actor("supervisor", uuid4())
    app.create_company(
        company_id, name="Acme", timezone="Europe/Berlin", open_limit=100, by=OPERATOR, at=clock()
    )
    app.create_queue(queue_id, company_id, name="Support", priority=5, by=ada, at=clock())
    app.add_mailbox(
        company_id,
        mailbox_id,
        address="support@acme.test",
        default_queue_id=queue_id,
        by=ada,
        at=clock(),
    )
    for user in (ann, bob, sue, ada):
        app.register_user(
            user.user_id,
            company_id,
            name=user.kind,
            email=f"{user.user_id}@acme.test",
            role=user.kind,
            queue_ids=[queue_id],
            capacity=5,
            token_hash=f"hash-{user.user_id}",
            by=ada,
            at=clock(),
        )
    return Acme(app, clock, company_id, queue_id, mailbox_id, ann, bob, sue, ada)


def outgoing(n: int, *, to: str = "carol@customer.test") -> MessageInfo:
    return MessageInfo(
        record_id=f"out-{n}-{uuid4()}",
        rfc_message_id=f"<out-{n}-{uuid4()}@acme.test>",
        direction="out",
        sender="support@acme.test",
        sender_name="Acme",
        to=[to],
        cc=["boss@customer.test"],
        subject="Re: Invoice 42",
        snippet="Dear Carol",
        blob="sha256:b",
        attachments=[
            AttachmentInfo(
                filename="a.pdf", content_type="application/pdf", size=7, blob="sha256:a"
            )
        ],
    )


def produce_every_event(acme: Acme) -> UUID:
    """Runs a day at Acme that records every event type there is; returns the main email."""
    app, at, cid = acme.app, acme.at, acme.id
    ann, bob, sue, ada = acme.ann, acme.bob, acme.sue, acme.ada
    scope = {"scope": cid}
    # Company, Queue, Agent and AccessToken configuration without an application command yet
    app.set_open_limit(cid, 120, by=ada, at=at())
    company = app.company(cid)
    spare = uuid4()
    company.add_mailbox(spare, "old@acme.test", acme.queue, actor=str(ada), at=at())
    company.change_mailbox(spare, "sales@acme.test", acme.queue, actor=str(ada), at=at())
    company.remove_mailbox(spare, actor=str(ada), at=at())
    app.save(company)
    app.replace_routing_rules(
        cid,
        [
            {
                "queue_id": str(acme.queue),
                "conditions": [{"field": "subject", "op": "contains", "value": "invoice"}],
                "window": {"days": ["mon", "tue"], "from": "08:00", "to": "18:00"},
            }
        ],
        by=ada,
        at=at(),
    )
    app.define_dispositions(
        cid, TREE, mandatory=True, default=["Spam"], timeout_seconds=3600, by=ada, at=at()
    )
    app.define_substatuses(cid, ["Waiting for supplier"], by=ada, at=at())
    app.set_distribution(cid, DistributionSettings(offer_timeout_seconds=30), by=ada, at=at())
    agent = app.agent(bob.user_id)
    agent.set_role("supervisor", actor=str(ada), at=at())
    agent.set_role("agent", actor=str(ada), at=at())
    agent.set_access_profile([acme.queue], actor=str(ada), at=at())
    agent.set_capacity(3, actor=str(ada), at=at())
    app.save(agent)
    old_queue = uuid4()
    app.create_queue(old_queue, cid, name="Old", priority=1, by=ada, at=at())
    app.set_queue_membership(bob.user_id, old_queue, member=True, by=ada, at=at(), **scope)
    app.set_queue_membership(bob.user_id, old_queue, member=False, by=ada, at=at(), **scope)
    queue = app.queue(old_queue)
    queue.rename("Archive", actor=str(ada), at=at())
    queue.set_priority(0, actor=str(ada), at=at())
    queue.close(actor=str(ada), at=at())
    app.save(queue)
    app.revoke_token(token_id(f"hash-{sue.user_id}"), user_id=sue.user_id, by=ada, at=at(), **scope)
    expiry = at() + timedelta(days=30)
    app.issue_token(sue.user_id, "h2", label="laptop", expires_at=expiry, by=sue, at=at(), **scope)
    # presence
    app.log_in(ann.user_id, by=ann, at=at(), **scope)
    app.pause(ann.user_id, "lunch", by=ann, at=at(), **scope)
    app.unpause(ann.user_id, by=ann, at=at(), **scope)
    app.log_out(ann.user_id, by=ann, at=at(), **scope)
    app.log_in(ann.user_id, by=ann, at=at(), **scope)
    # one email, from arrival through every kind of work to its continuation and reopening
    attachment = AttachmentInfo(
        filename="invoice.pdf", content_type="application/pdf", size=1234, blob="sha256:c"
    )
    iid = acme.write(
        "<1@customer.test>",
        cc=("boss@customer.test",),
        subject="Invoice 42",
        sender_name="Carol",
        attachments=(attachment,),
    )
    interaction = app.interaction(iid)
    interaction.offer(bob.user_id, {"why": "longest idle", "rank": 1}, at=at())
    app.save(interaction)
    app.reject(iid, by=bob, at=at(), **scope)
    interaction = app.interaction(iid)
    interaction.offer(sue.user_id, {"why": "longest idle", "rank": 1}, at=at())
    interaction.expire_offer(at=at())
    app.save(interaction)
    app.offer(iid, ann.user_id, {"rule": "longest-idle"}, present=True, at=at())
    app.accept(iid, by=ann, at=at(), **scope)
    app.park(iid, by=ann, at=at(), **scope)
    app.resume(iid, by=ann, at=at(), **scope)
    reply, forward, failing = outgoing(1), outgoing(2, to="dave@supplier.test"), outgoing(3)
    app.queue_reply(iid, reply, forward=False, by=ann, at=at(), **scope)
    app.queue_reply(iid, forward, forward=True, by=ann, at=at(), **scope)
    app.queue_reply(iid, failing, forward=False, by=ann, at=at(), **scope)
    interaction = app.interaction(iid)
    interaction.record_sent(reply["record_id"], "250 2.0.0 OK", forward=False, at=at())
    interaction.record_sent(forward["record_id"], "250 2.0.0 OK", forward=True, at=at())
    interaction.record_send_failed(failing["record_id"], "550 5.1.1 no such user", at=at())
    app.save(interaction)
    app.add_note(iid, uuid4(), "Carol called as well", by=sue, at=at(), **scope)
    draft = {"body_text": "Dear Carol", "cc": ["boss@customer.test"], "attachments": []}
    app.save_draft(iid, draft, by=ann, at=at(), **scope)
    app.discard_draft(iid, by=ann, at=at(), **scope)
    app.set_substatus(iid, "Pending", by=ann, at=at(), **scope)
    app.set_substatus(iid, None, by=ann, at=at(), **scope)
    app.change_tags(iid, add=["vip", "refund"], remove=[], by=ann, at=at(), **scope)
    app.change_tags(iid, add=[], remove=["refund"], by=ann, at=at(), **scope)
    app.mark(iid, unread=True, by=ann, at=at(), **scope)
    app.mark(iid, unread=False, by=ann, at=at(), **scope)
    auto = outgoing(5)
    app.queue_auto_reply(iid, auto, reason="acknowledgement", answering="in-1",
                         sender="carol@customer.test", arrived_at=at(),
                         window=timedelta(hours=24), at=at())
    app.record_delivery(iid, auto["record_id"], kind="auto_reply", response="250 OK", at=at())
    acme.write("<dsn-1@mx.customer.test>", subject="Undelivered",
               bounce_of=(reply["rfc_message_id"],))
    acme.write("<2@customer.test>", subject="Re: Invoice 42", in_reply_to=("<1@customer.test>",))
    app.start_call(ann.user_id, by=ann, at=at(), **scope)
    app.end_call(ann.user_id, by=ann, at=at(), **scope)
    app.transfer_to_agent(iid, bob.user_id, by=ann, at=at(), **scope)
    app.transfer_to_queue(iid, acme.queue, by=sue, at=at(), **scope)
    app.accept(iid, by=bob, at=at(), **scope)
    app.return_to_queue(iid, by=bob, at=at(), **scope)
    app.accept(iid, by=ann, at=at(), **scope)
    app.close_interaction(iid, ["Resolved", "Refund"], by=ann, at=at(), **scope)
    acme.write("<3@customer.test>", subject="Re: Invoice 42", in_reply_to=("<1@customer.test>",))
    app.reopen(iid, by=ada, at=at(), **scope)
    app.accept(iid, by=ann, at=at(), **scope)
    app.close_interaction(iid, ["Spam"], by=ann, at=at(), **scope)
    app.reopen(iid, by=ann, at=at(), **scope)  # active again: a running segment is stored
    # an outbound email, and a message that could not become an interaction
    app.start_outbound(
        uuid4(),
        cid,
        mailbox_id=acme.mailbox,
        queue_id=acme.queue,
        message=outgoing(4),
        by=bob,
        at=at(),
    )
    quarantined = app.quarantine(
        uuid4(), cid, blob="sha256:q", reason="no From header", source="imap", at=at()
    ).aggregate
    quarantined.release(None, actor=str(ada), at=at())
    app.save(quarantined)
    # how far a mailbox's folder was ingested, and the folder recreated
    checkpoint = MailboxCheckpoint(
        company_id=cid, mailbox_id=acme.mailbox, folder="INBOX", uidvalidity=7, timestamp=at()
    )
    checkpoint.advance(3, 3, at=at())
    checkpoint.follow(8, at=at())
    app.save(checkpoint)
    # the customer's contact: registered by its first edit, an address moved away and back
    carol, seen = contact_id_for(cid, "carol@customer.test"), "carol@customer.test"
    app.edit_contact(
        cid,
        carol,
        name="Carol S",
        add_addresses=["c@home.test"],
        seen_address=seen,
        by=ann,
        at=at(),
    )
    app.edit_contact(cid, carol, remove_addresses=["c@home.test"], by=ann, at=at())
    app.edit_contact(cid, carol, add_addresses=["c@home.test"], by=ann, at=at())
    return iid


def aggregate_classes() -> set[type[Aggregate]]:
    """Every aggregate of the domain, so that a new one is covered too."""
    found, todo = set(), [Aggregate]
    while todo:
        for cls in todo.pop().__subclasses__():
            todo.append(cls)
            if cls.__module__.startswith("domain."):
                found.add(cls)
    return found


def declared_events(cls: type[Aggregate]) -> set[str]:
    """The event classes an aggregate declares, without the bases the library adds to it
    (`Event`, and `Created` when the aggregate declares its own created events)."""
    events = {v for v in vars(cls).values() if isinstance(v, type) and issubclass(v, cls.Event)}
    events.discard(cls.Event)
    if any(issubclass(e, Aggregate.Created) and e is not cls.Created for e in events):
        events.discard(cls.Created)
    return {event.__qualname__ for event in events}


def stored_events(app: ContactCenter) -> list[DomainEventProtocol[UUID]]:
    ids = {n.originator_id for n in app.recorder.select_notifications(start=1, limit=100_000)}
    return [event for aggregate_id in ids for event in app.events.get(aggregate_id)]


def shape(value: Any) -> Any:
    """The types in a value, recursively: tells a tuple from a list and a str-Enum from a str."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value), [shape(item) for item in value]
    if isinstance(value, datetime):
        return datetime, value.utcoffset()
    return type(value)


# --- every event type, stored and read back ------------------------------------------------


def test_a_day_at_acme_stores_every_event_type_of_every_aggregate(acme: Acme) -> None:
    produce_every_event(acme)

    stored = {type(event).__qualname__ for event in stored_events(acme.app)}
    declared = set().union(*(declared_events(cls) for cls in aggregate_classes()))
    assert {"Interaction.Received", "Agent.WorkloadChanged", "CompanyQuota.Released"} <= declared
    assert stored == declared


def test_every_aggregate_reloads_equal_to_the_one_in_memory(acme: Acme) -> None:
    produce_every_event(acme)
    app = acme.app

    stored_ids = {event.originator_id for event in stored_events(app)}
    assert stored_ids == set(app.in_memory)
    for aggregate_id, in_memory in app.in_memory.items():
        reloaded = app.repository.get(aggregate_id)
        assert reloaded == in_memory
        assert shape(vars(reloaded)) == shape(vars(in_memory))


def test_every_stored_event_keeps_its_values_and_their_types(acme: Acme) -> None:
    produce_every_event(acme)
    app = acme.app

    stored = {(e.originator_id, e.originator_version): e for e in stored_events(app)}
    assert len(stored) == len(app.events_in_memory)
    for original in app.events_in_memory:
        copy = stored[original.originator_id, original.originator_version]
        assert copy == original
        assert shape(vars(copy)) == shape(vars(original))


def test_uuids_datetimes_lists_and_dicts_come_back_as_such(acme: Acme) -> None:
    iid = produce_every_event(acme)

    interaction = acme.app.interaction(iid)
    assert isinstance(interaction.company_id, UUID)
    assert isinstance(interaction.owner, UUID)
    assert interaction.active_since is not None
    assert interaction.active_since.utcoffset() == timedelta(0)
    assert interaction.tags == ["vip"]
    assert interaction.message_ids[0] == "<1@customer.test>"
    assert "<2@customer.test>" in interaction.message_ids
    received, *_ = acme.app.events.get(iid)
    assert isinstance(received, Interaction.Received)
    assert received.message["cc"] == ["boss@customer.test"]
    assert received.message["attachments"][0]["size"] == 1234
    offered = next(e for e in acme.app.events.get(iid) if isinstance(e, Interaction.Offered))
    assert offered.reason == {"why": "longest idle", "rank": 1}
    assert all(e.timestamp.utcoffset() == timedelta(0) for e in acme.app.events.get(iid))
    assert all(isinstance(i, UUID) for i in acme.app.agent(acme.ann.user_id).held)
    assert acme.app.company(acme.id).disposition_tree == TREE


def test_an_expired_offer_is_stored_and_read_back(acme: Acme) -> None:
    iid = acme.write("<9@customer.test>")
    interaction = acme.app.interaction(iid)
    interaction.offer(acme.ann.user_id, {}, at=acme.at())
    interaction.expire_offer(at=acme.at())

    acme.app.save(interaction)

    assert acme.app.interaction(iid) == interaction
    assert type(list(acme.app.events.get(iid))[-1]).__name__ == "OfferExpired"


def test_snapshots_reload_equal_to_the_aggregates_in_memory(acme: Acme) -> None:
    app, at = acme.app, acme.at
    company, agent = app.company(acme.id), app.agent(acme.ann.user_id)
    quota = app.quota(acme.id)
    for n in range(100):  # past every snapshotting interval, with state in lists and dicts
        company.set_open_limit(100 + n, actor="admin", at=at())
        agent.track(uuid4(), owned=True, active=n % 2 == 0, actor="agent", at=at())
        quota.reserve(uuid4(), limit=None, at=at())
        quota.release(uuid4(), at=at())
    app.save(company, agent, quota)

    for aggregate in (company, agent, quota):
        assert list(app.snapshots.get(aggregate.id))  # type: ignore[union-attr]
        assert app.repository.get(aggregate.id) == aggregate
    assert isinstance(app.repository.get(agent.id).held[0], UUID)
    assert app.repository.get(CompanyQuota.create_id(acme.id)).open_count == quota.open_count


# --- optimistic concurrency ----------------------------------------------------------------


def test_of_two_writers_of_one_interaction_the_second_save_conflicts(acme: Acme) -> None:
    iid = acme.write("<10@customer.test>")
    seen_by_ann, seen_by_bob = acme.app.interaction(iid), acme.app.interaction(iid)
    seen_by_ann.accept(acme.ann, at=acme.at())
    seen_by_bob.accept(acme.bob, at=acme.at())

    acme.app.save(seen_by_ann)
    with pytest.raises(IntegrityError):
        acme.app.save(seen_by_bob)

    assert acme.app.interaction(iid).owner == acme.ann.user_id


def test_two_agents_accepting_at_once_exactly_one_wins(acme: Acme) -> None:
    app, agents = acme.app, (acme.ann, acme.bob)
    for round_ in range(20):
        iid = acme.write(f"<race-{round_}@customer.test>")
        at, start = acme.at(), threading.Barrier(len(agents))

        def accept(
            agent: Actor, iid: UUID = iid, at: datetime = at, start: threading.Barrier = start
        ) -> Saved | DomainError:
            start.wait()
            try:
                return app.accept(iid, scope=acme.id, by=agent, at=at)
            except DomainError as error:
                return error

        with ThreadPoolExecutor(max_workers=len(agents)) as pool:
            outcomes = dict(zip(agents, pool.map(accept, agents), strict=True))

        winners = [agent for agent, outcome in outcomes.items() if isinstance(outcome, Saved)]
        assert len(winners) == 1, outcomes
        [loser] = set(agents) - set(winners)
        assert isinstance(outcomes[loser], AlreadyTaken)
        assert app.interaction(iid).owner == winners[0].user_id
        assert app.agent(winners[0].user_id).active == iid
        assert iid not in app.agent(loser.user_id).held
