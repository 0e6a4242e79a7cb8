"""A month of contact-center work for report tests: seeded random commands, moving clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from random import Random
from typing import Any
from uuid import UUID, uuid4

from domain.actors import Actor
from domain.application import ContactCenter
from domain.application.outbox import FollowUp
from domain.errors import DomainError
from domain.interaction import Interaction
from domain.messages import InboundEmail, MessageInfo, Status
from domain.timers import last_offer

PATHS = ([], ["Resolved"], ["Resolved", "Refund"], ["Spam"])
NEVER = datetime(1970, 1, 1)


def outgoing(to: str, record: str) -> MessageInfo:
    return MessageInfo(
        record_id=record,
        rfc_message_id=f"<{uuid4()}@acme.test>",
        direction="out",
        sender="support@acme.test",
        sender_name="Acme",
        to=[to],
        cc=[],
        subject="Re",
        snippet="",
        blob="",
        attachments=[],
    )


class Desk:
    """A company with three queues, four agents and a supervisor, worked at random."""

    def __init__(self, app: ContactCenter, rng: Random, clock: Callable[[], datetime]) -> None:
        self.app, self.rng, self.clock = app, rng, clock
        self.id, self.mailbox, boss_id = self.new_id(), self.new_id(), self.new_id()
        self.boss = Actor("supervisor", boss_id)
        admin = {"by": self.boss, "at": clock()}
        app.create_company(self.id, name="Acme", timezone="UTC", open_limit=10**6, **admin)
        self.queues = [self.new_id() for _ in range(3)]
        for n, queue in enumerate(self.queues):
            app.create_queue(queue, self.id, name=f"Q{n}", priority=n, **admin)
        self.members = {
            self.new_id(): [self.queues[n % 3], self.queues[(n + 1) % 3]] for n in range(4)
        }
        for user, role, queues in [(boss_id, "supervisor", []), *self.agents_and_queues()]:
            app.register_user(
                user,
                self.id,
                name=role,
                email=f"{user}@acme.test",
                role=role,
                queue_ids=queues,
                capacity=100,
                token_hash=str(uuid4()),
                **admin,
            )
            if role == "agent":
                app.log_in(user, scope=self.id, by=Actor("agent", user), at=clock())
        tree = [{"name": "Resolved", "children": [{"name": "Refund"}]}, {"name": "Spam"}]
        app.define_dispositions(
            self.id, tree, mandatory=False, default=None, timeout_seconds=None, **admin
        )
        app.add_mailbox(
            self.id,
            self.mailbox,
            address="support@acme.test",
            default_queue_id=self.queues[0],
            **admin,
        )
        rules = [
            {
                "queue_id": str(queue),
                "conditions": [{"field": "subject", "op": "contains", "value": word}],
            }
            for queue, word in zip(self.queues[1:], ("Invoice", "Buy"), strict=True)
        ]
        app.replace_routing_rules(self.id, rules, **admin)
        self.threads: dict[UUID, tuple[str, str]] = {}  # interaction → customer, Message-ID
        self.received = 0
        self.open: set[UUID] = set()
        self.outbox: dict[str, tuple[UUID, str]] = {}  # record → interaction, kind

    def new_id(self) -> UUID:
        """Ids from the seeded generator, so that a run can be replayed choice by choice."""
        return UUID(int=self.rng.getrandbits(128), version=4)

    def agents_and_queues(self) -> list[tuple[UUID, str, list[UUID]]]:
        return [(agent, "agent", queues) for agent, queues in self.members.items()]

    def agent(self, agent_id: UUID | None = None) -> Actor:
        return Actor("agent", agent_id or self.rng.choice(sorted(self.members)))

    def on(self, command: str, *args: Any, by: Actor, **kwargs: Any) -> Callable[[], Any]:
        """A command on this company, by `by`, at the time it runs."""
        method = getattr(self.app, command)
        return lambda: method(*args, scope=self.id, by=by, at=self.clock(), **kwargs)

    def receive(self, in_reply_to: UUID | None = None) -> None:
        customer, original = self.threads.get(in_reply_to or uuid4(), ("", ""))
        customer = customer or f"c{self.rng.randint(1, 60)}@customer.test"
        email = InboundEmail(
            f"<{self.new_id()}@customer.test>",
            customer,
            to=("support@acme.test",),
            subject=self.rng.choice(["Invoice 7", "Buy more", "Help", "Hello"]),
            in_reply_to=(original,) if original else (),
        )
        arrived = self.clock() - timedelta(minutes=self.rng.choice([0, 0, 0, 7, 95]))
        delivery = self.app.receive_email(
            self.id,
            email,
            recipient=None,
            arrived_at=arrived,
            at=self.clock(),
            find_by_ref=lambda c, t: None,
        )
        if delivery.outcome not in ("created", "continued"):
            return
        iid = delivery.interaction_id
        self.received += 1
        self.threads[iid] = (customer, email.rfc_message_id)
        self.open.add(iid)
        if self.rng.random() < 0.3:  # auto-replies are no first response
            record = str(self.new_id())
            self.app.queue_auto_reply(
                iid,
                outgoing(customer, record),
                reason="acknowledgement",
                answering="",
                sender=customer,
                arrived_at=arrived,
                window=timedelta(hours=1),
                at=self.clock(),
            )
            self.outbox[record] = (iid, "auto_reply")

    def start_outbound(self) -> None:
        agent = self.agent()
        record, iid = str(self.new_id()), self.new_id()
        queue = self.rng.choice(self.members[agent.user_id])  # type: ignore[index]
        self.app.start_outbound(
            iid,
            self.id,
            mailbox_id=self.mailbox,
            queue_id=queue,
            message=outgoing("new@customer.test", record),
            by=agent,
            at=self.clock(),
        )
        self.threads[iid] = ("new@customer.test", "")
        self.open.add(iid)
        self.outbox[record] = (iid, "reply")

    def reply(self, iid: UUID, owner: Actor, *, close: bool = False) -> None:
        record = str(self.new_id())
        message = outgoing(self.threads[iid][0], record)
        if close:
            then = FollowUp(close=list(self.rng.choice(PATHS)))
            self.on("send_reply", iid, message, forward=False, then=then, by=owner)()
        else:
            self.on("queue_reply", iid, message, forward=self.rng.random() < 0.2, by=owner)()
        self.outbox[record] = (iid, "reply")

    def deliver(self) -> None:
        if self.outbox:
            record = self.rng.choice(sorted(self.outbox))
            iid, kind = self.outbox.pop(record)
            self.app.record_delivery(iid, record, kind=kind, response="250", at=self.clock())  # type: ignore[arg-type]

    def call(self) -> None:
        agent = self.agent()
        assert agent.user_id is not None
        ends = self.app.agent(agent.user_id).on_call
        self.on("end_call" if ends else "start_call", agent.user_id, by=agent)()

    def work(self) -> None:
        pool = self.open if self.open and self.rng.random() < 0.9 else set(self.threads)
        iid = self.rng.choice(sorted(pool))
        self.rng.choice(self.options(self.app.interaction(iid)))()
        if self.app.interaction(iid).status == Status.CLOSED:
            self.open.discard(iid)
        else:
            self.open.add(iid)

    def options(self, it: Interaction) -> list[Callable[[], Any]]:
        app, iid, boss, on = self.app, it.id, self.boss, self.on
        members = [a for a, queues in self.members.items() if it.queue_id in queues]
        member = self.agent(self.rng.choice(members)) if members else self.agent()
        owner = self.agent(it.owner) if it.owner else member
        queue = self.rng.choice(self.queues)
        writes = [lambda: self.receive(in_reply_to=iid)]
        if it.status == Status.QUEUED:
            offer = [lambda: app.offer(iid, member.user_id, {}, present=True, at=self.clock())]
            return [
                *offer * 4,
                *[on("accept", iid, by=member)] * 4,
                on("transfer_to_queue", iid, queue, by=boss),
                on("transfer_to_agent", iid, member.user_id, by=boss),
                on("close_interaction", iid, ["Spam"], by=boss),
                lambda: app.end_offer_round(iid, at=self.clock()),
                *writes,
            ]
        if it.status == Status.OFFERED:
            offered = self.agent(it.offered_to)
            version = (last_offer(app.events.get(iid)) or (NEVER, 0))[1]
            return [
                *[on("accept", iid, by=offered)] * 3,
                on("reject", iid, by=offered),
                lambda: app.expire_offer(iid, version, at=self.clock()),
            ]
        if it.status == Status.CLOSED:
            last = self.agent(it.last_agent) if it.last_agent else boss
            return [on("reopen", iid, by=last), on("reopen", iid, by=boss), *writes]
        owned = [
            on("close_interaction", iid, list(self.rng.choice(PATHS)), by=owner),
            on("transfer_to_agent", iid, member.user_id, by=owner),
            on("transfer_to_queue", iid, queue, by=owner),
            on("return_to_queue", iid, by=owner),
            *writes,
        ]
        if it.status == Status.PARKED:
            return [*[on("resume", iid, by=owner)] * 5, *owned]
        return [
            *[lambda: self.reply(iid, owner)] * 4,
            *[lambda: self.reply(iid, owner, close=True)] * 2,
            on("park", iid, by=owner),
            on("start_call", owner.user_id, by=owner),
            *owned,
        ]

    def step(self) -> None:
        roll = self.rng.random()
        try:
            if roll < 0.11 or not self.threads:
                self.receive()
            elif roll < 0.12:
                self.start_outbound()
            elif roll < 0.14:
                self.call()
            elif roll < 0.17:
                self.deliver()
            else:
                self.work()
        except DomainError:
            pass  # the rules refused it: nothing was recorded
