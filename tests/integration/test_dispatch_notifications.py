"""What agents' streams are told, each event once even with two publishers; Redis adapters."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import IntegrityError

from adapters.notifier import MemoryNotifier, Note, RedisNotifier, agent_channel
from adapters.persistence import Persistence
from adapters.presence import RedisPresence
from domain.actors import OPERATOR, Actor
from domain.application import ContactCenter
from domain.messages import InboundEmail
from projections.notifications import Notifications
from projections.runner import CatchUpRunner
from tests.api.distribution_env import redis_url
from tests.fakes import FixedClock


class Acme:
    """A company with one queue, agents Ann and Bob, and a mailbox."""

    def __init__(self, app: ContactCenter) -> None:
        self.app, self.clock = app, FixedClock()
        self.id, self.queue, admin = uuid4(), uuid4(), Actor("admin", uuid4())
        self.ann, self.bob = Actor("agent", uuid4()), Actor("agent", uuid4())
        at = self.clock()
        app.create_company(self.id, name="Acme", timezone="UTC", open_limit=99, by=OPERATOR, at=at)
        app.create_queue(self.queue, self.id, name="General", priority=1, by=admin, at=at)
        app.add_mailbox(
            self.id, uuid4(), address="in@acme.test", default_queue_id=self.queue, by=admin, at=at
        )
        for agent in (self.ann, self.bob):
            assert agent.user_id is not None
            app.register_user(
                agent.user_id,
                self.id,
                name="x",
                email=f"{uuid4()}@acme.test",
                role="agent",
                queue_ids=[self.queue],
                capacity=3,
                token_hash=str(uuid4()),
                by=admin,
                at=at,
            )
            app.log_in(agent.user_id, scope=self.id, by=agent, at=at)

    def email(self, n: int) -> UUID:
        mail = InboundEmail(
            rfc_message_id=f"<{n}@c.test>",
            sender="carol@c.test",
            to=("in@acme.test",),
            subject=f"#{n}",
        )
        return self.app.receive_email(
            self.id,
            mail,
            recipient=None,
            arrived_at=self.clock(),
            at=self.clock(),
            find_by_ref=lambda c, r: None,
        ).interaction_id


def uid(actor: Actor) -> UUID:
    assert actor.user_id is not None
    return actor.user_id


def test_agents_are_told_of_offers_taken_transfers_and_new_messages(
    persistence: Persistence,
) -> None:
    app = ContactCenter(env=persistence.application_env())
    acme = Acme(app)
    told: list[Note] = []
    notifications = Notifications.open(persistence.view_datastore(Notifications.name))
    notifications.publisher = told.extend
    runner = CatchUpRunner(app, notifications, listen=False)
    at, scope = acme.clock(), {"scope": acme.id}

    first = acme.email(1)
    app.offer(first, uid(acme.ann), {"rule": "longest-idle"}, present=True, at=at)
    app.reject(first, by=acme.ann, at=at, **scope)
    app.accept(first, by=acme.bob, at=at, **scope)
    app.transfer_to_agent(first, uid(acme.ann), by=acme.bob, at=at, **scope)
    reply = InboundEmail(
        rfc_message_id="<r@c.test>",
        sender="carol@c.test",
        to=("in@acme.test",),
        subject="Re: #1",
        in_reply_to=("<1@c.test>",),
    )
    app.receive_email(
        acme.id, reply, recipient=None, arrived_at=at, at=at, find_by_ref=lambda c, r: None
    )
    while runner.run_once():
        pass

    for_agents = [(n.type, n.agent_ids) for n in told if n.agent_ids]
    assert for_agents == [
        ("offered", (uid(acme.ann),)),
        ("offer_withdrawn", (uid(acme.ann),)),
        ("taken", (uid(acme.ann),)),  # Ann saw it, Bob took it
        ("transferred", (uid(acme.ann),)),
        ("message_received", (uid(acme.ann),)),  # now Ann's
    ]
    assert {n.queue_id for n in told} == {acme.queue}
    assert {n.company_id for n in told} == {acme.id}
    notifications.view.close()
    app.close()


def test_two_publishers_on_overlapping_pages_publish_each_event_once(
    persistence: Persistence,
) -> None:
    app = ContactCenter(env=persistence.application_env())
    acme = Acme(app)
    for n in range(5):
        acme.email(n)
    page = app.recorder.select_notifications(0, 1000)
    views = [Notifications.open(persistence.view_datastore(Notifications.name)) for _ in "ab"]
    told: list[Note] = []
    for view in views:
        view.publisher = told.extend
    events = [(app.mapper.to_domain_event(n), n.id) for n in page]
    half = len(events) // 2

    views[0].process_batch(events[:half])
    views[1].process_batch(events)  # overlaps the first: only what follows is applied
    with pytest.raises(IntegrityError):
        views[0].process_batch(events[: half + 1])  # entirely behind the other

    waiting = [n.data["interaction_id"] for n in told]
    assert len(waiting) == len(set(waiting)) == 5  # one "waiting" per email, once
    for view in views:
        view.view.close()
    app.close()


def test_redis_presence_lapses_after_its_ttl() -> None:
    presence = RedisPresence(redis_url(), ttl=0.3)
    company, here, gone = uuid4(), uuid4(), uuid4()
    presence.beat(company, here)
    presence.beat(company, gone)
    assert presence.present([here, gone, uuid4()]) == {here, gone}
    time.sleep(0.2)
    presence.beat(company, here)
    time.sleep(0.2)
    assert presence.present([here, gone]) == {here}
    presence.close()


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_a_subscription_hears_its_own_company_only(kind: str) -> None:
    notifier: Any = MemoryNotifier() if kind == "memory" else RedisNotifier(redis_url())
    ours, theirs, agent = uuid4(), uuid4(), uuid4()

    async def listen() -> list[dict[str, Any]]:
        heard = []
        async with notifier.subscribe(ours, [agent_channel(ours, agent)]) as subscription:
            await asyncio.sleep(0.05)
            forged = Note(theirs, "offered", 1, (agent,), None, {"at": "x"})  # wrong company
            notifier.publish([forged, Note(ours, "offered", 2, (agent,), None, {"at": "x"})])
            while (message := await subscription.next(0.3)) is not None:
                heard.append(message)
        return heard

    heard = asyncio.run(listen())
    notifier.close()
    assert [m["position"] for m in heard] == [2]


def test_expiry_and_a_lapsed_presence_need_their_deadlines(persistence: Persistence) -> None:
    from domain.application.dispatch import TimerNotDue

    app = ContactCenter(env=persistence.application_env())
    acme = Acme(app)
    email, at = acme.email(1), acme.clock()
    saved = app.offer(email, uid(acme.ann), {"rule": "longest-idle"}, present=True, at=at)
    with pytest.raises(TimerNotDue):
        app.expire_offer(email, saved.aggregate.version, at=at + timedelta(seconds=59))
    app.expire_offer(email, saved.aggregate.version, at=at + timedelta(seconds=60))
    app.log_out_absent(uid(acme.bob), at=at)
    assert not app.agent(uid(acme.bob)).logged_in
    assert app.interaction(email).rejected_by == [uid(acme.ann)]
    app.close()
