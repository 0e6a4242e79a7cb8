"""Read models on real SQLite and PostgreSQL, fed by the real ContactCenter application."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import IntegrityError

from adapters.persistence import Persistence
from domain.actors import OPERATOR, Actor
from domain.application import ContactCenter, Delivery
from domain.errors import OpenLimitReached
from domain.messages import InboundEmail, MessageInfo
from projections.base import ProjectionError, Tx, handles
from projections.registry import PROJECTION_NAMES, ReadModels
from projections.runner import CatchUpRunner, process_page, rebuild
from projections.timeline import Timeline
from tests.fakes import FixedClock


class World:
    """One company with two queues, two agents and a mailbox; the clock moves a minute a step."""

    def __init__(self, app: ContactCenter, *, open_limit: int = 1000) -> None:
        self.app, self.clock = app, FixedClock()
        self.company, self.q1, self.q2 = uuid4(), uuid4(), uuid4()
        self.a, self.b, self.mailbox_id = uuid4(), uuid4(), uuid4()
        self.admin = Actor("admin", uuid4())
        self.agent_a, self.agent_b = Actor("agent", self.a), Actor("agent", self.b)
        app.create_company(
            self.company,
            name="Acme",
            timezone="UTC",
            open_limit=open_limit,
            by=OPERATOR,
            at=self.now(),
        )
        for queue, name in ((self.q1, "Billing"), (self.q2, "Sales")):
            app.create_queue(
                queue, self.company, name=name, priority=5, by=self.admin, at=self.now()
            )
        for user, token in ((self.a, "ha"), (self.b, "hb")):
            app.register_user(
                user,
                self.company,
                name=token,
                email=f"{token}@acme.test",
                role="agent",
                queue_ids=[self.q1, self.q2],
                capacity=5,
                token_hash=f"{token}-{uuid4()}",
                by=self.admin,
                at=self.now(),
            )
        app.define_dispositions(
            self.company,
            [{"name": "Resolved"}],
            mandatory=False,
            default=None,
            timeout_seconds=None,
            by=self.admin,
            at=self.now(),
        )
        self.position = app.add_mailbox(
            self.company,
            self.mailbox_id,
            address="support@acme.test",
            default_queue_id=self.q1,
            by=self.admin,
            at=self.now(),
        ).position

    def now(self) -> datetime:
        return self.clock.advance(minutes=1)

    def receive(
        self,
        subject: str,
        sender: str = "c@customer.test",
        *,
        name: str = "",
        snippet: str = "",
        in_reply_to: tuple[str, ...] = (),
    ) -> Delivery:
        email = InboundEmail(
            rfc_message_id=f"<{uuid4()}@customer.test>",
            sender=sender,
            sender_name=name,
            to=("support@acme.test",),
            subject=subject,
            snippet=snippet,
            in_reply_to=in_reply_to,
        )
        at = self.now()
        delivery = self.app.receive_email(
            self.company,
            email,
            recipient=None,
            arrived_at=at,
            at=at,
            find_by_ref=lambda company, token: None,
        )
        self.position = delivery.position
        return delivery

    def do(
        self, command: str, interaction_id: UUID, by: Actor, *args: object, **kwargs: object
    ) -> int:
        method = getattr(self.app, command)
        saved = method(interaction_id, *args, scope=self.company, by=by, at=self.now(), **kwargs)
        self.position = saved.position
        return self.position

    def offer(self, interaction_id: UUID, agent_id: UUID) -> int:
        interaction = self.app.interaction(interaction_id)
        interaction.offer(agent_id, {"rule": "longest idle"}, at=self.now())
        self.position = self.app.save(interaction)[-1].notification.id
        return self.position

    def reply(self, text: str) -> MessageInfo:
        return MessageInfo(
            record_id=str(uuid4()),
            rfc_message_id=f"<{uuid4()}@acme.test>",
            direction="out",
            sender="support@acme.test",
            sender_name="Acme",
            to=["c@customer.test"],
            cc=[],
            subject="Re",
            snippet=text,
            blob="",
            attachments=[],
        )


@pytest.fixture
def app(persistence: Persistence) -> Iterator[ContactCenter]:
    app = ContactCenter(env=persistence.application_env())
    yield app
    app.close()


@pytest.fixture
def models(app: ContactCenter, persistence: Persistence) -> Iterator[ReadModels]:
    with ReadModels(persistence, app) as models:
        yield models


def synced(models: ReadModels, position: int) -> None:
    models.wake()
    assert models.wait(position, timeout=5.0), models.errors()


def test_an_interaction_moves_through_inbox_queue_and_search(
    app: ContactCenter, models: ReadModels
) -> None:
    w = World(app)
    one = w.receive("Invoice 42", name="Carla", snippet="where is my refund").interaction_id
    synced(models, w.position)
    waiting = models.queue_waiting.items(w.q1)
    assert [(r["interaction_id"], r["offered_to"], r["unread"]) for r in waiting] == [
        (str(one), None, True)
    ]
    found = models.search.get(one)
    assert found is not None
    assert (found["status"], found["queue_id"], found["customer"], found["customer_name"]) == (
        "queued",
        str(w.q1),
        "c@customer.test",
        "Carla",
    )

    synced(models, w.offer(one, w.a))
    assert [(r["state"], r["interaction_id"]) for r in models.agent_inbox.items(w.a)] == [
        ("offered", str(one))
    ]
    assert models.queue_waiting.items(w.q1)[0]["offered_to"] == str(w.a)

    synced(models, w.do("reject", one, w.agent_a))
    assert models.agent_inbox.items(w.a) == []
    assert models.queue_waiting.items(w.q1)[0]["offered_to"] is None

    synced(models, w.do("accept", one, w.agent_a))
    assert [(r["state"], r["unread"]) for r in models.agent_inbox.items(w.a)] == [("active", False)]
    assert models.queue_waiting.items(w.q1) == []

    synced(models, w.do("park", one, w.agent_a))
    assert models.agent_inbox.items(w.a)[0]["state"] == "parked"
    synced(models, w.do("resume", one, w.agent_a))
    synced(models, w.do("change_tags", one, w.agent_a, add=["vip", "billing"], remove=[]))
    synced(models, w.do("mark", one, w.agent_a, unread=True))
    synced(models, w.do("queue_reply", one, w.agent_a, w.reply("refund sent"), forward=False))
    found = models.search.get(one)
    assert found is not None
    assert (found["status"], found["owner"], found["first_agent"], found["unread"]) == (
        "active",
        str(w.a),
        str(w.a),
        True,
    )
    assert (found["tags"], found["last_direction"], found["snippet"]) == (
        ["billing", "vip"],
        "out",
        "refund sent",
    )
    assert found["handling_ms"] == 60_000

    synced(models, w.do("transfer_to_agent", one, w.agent_a, w.b))
    assert models.agent_inbox.items(w.a) == []
    assert [(r["state"], r["unread"]) for r in models.agent_inbox.items(w.b)] == [("parked", True)]

    synced(models, w.do("close_interaction", one, w.agent_b, ["Resolved"]))
    assert models.agent_inbox.items(w.b) == []
    found = models.search.get(one)
    assert found is not None
    assert (found["status"], found["owner"], found["disposition"]) == (
        "closed",
        str(w.b),
        ["Resolved"],
    )
    assert found["handling_ms"] == 5 * 60_000

    synced(models, w.do("reopen", one, w.agent_b))
    assert [r["state"] for r in models.agent_inbox.items(w.b)] == ["active"]
    synced(models, w.do("return_to_queue", one, w.agent_b))
    assert [r["interaction_id"] for r in models.queue_waiting.items(w.q1)] == [str(one)]
    synced(models, w.do("transfer_to_queue", one, w.admin, w.q2))
    assert models.queue_waiting.items(w.q1) == []
    assert [r["queue_id"] for r in models.queue_waiting.items(w.q2)] == [str(w.q2)]
    assert models.errors() == {}


def test_the_timeline_lists_every_event_with_actor_and_details(
    app: ContactCenter, models: ReadModels
) -> None:
    w = World(app)
    first = w.receive("Hello", snippet="hi")
    w.do("accept", first.interaction_id, w.agent_a)
    w.do("close_interaction", first.interaction_id, w.agent_a, [])
    original = app.interaction(first.interaction_id).message_ids[0]
    second = w.receive("Re: Hello", in_reply_to=(original,))
    w.do("reopen", first.interaction_id, w.admin)
    synced(models, w.position)

    entries = models.timeline.entries(first.interaction_id)
    assert [e["type"] for e in entries] == [
        "received",
        "routed",
        "accepted",
        "closed",
        "continued_in",
        "reopened",
    ]
    assert [e["seq"] for e in entries] == list(range(1, 7))
    assert entries[2]["actor"] == f"agent:{w.a}"
    assert entries[2]["at"] == "2026-03-02T09:09:00.000000Z"
    assert entries[2]["details"] == {"agent_id": str(w.a), "queue_id": str(w.q1)}
    assert entries[4]["details"] == {"interaction_id": str(second.interaction_id)}
    assert entries[0]["details"]["message"]["subject"] == "Hello"
    assert models.timeline.company_of(first.interaction_id) == w.company
    assert models.timeline.company_of(uuid4()) is None


def test_company_limits_pause_at_the_limit_and_keep_the_history(
    app: ContactCenter, models: ReadModels
) -> None:
    w = World(app, open_limit=2)
    synced(models, w.position)
    assert models.company_limits.get(w.company) == {
        "company_id": str(w.company),
        "open_count": 0,
        "open_limit": 2,
        "paused": False,
    }
    first = w.receive("one").interaction_id
    w.receive("two")
    synced(models, w.position)
    limits = models.company_limits.get(w.company)
    assert limits is not None
    assert (limits["open_count"], limits["paused"]) == (2, True)
    with pytest.raises(OpenLimitReached):
        w.receive("three")

    w.do("accept", first, w.agent_a)
    synced(models, w.do("close_interaction", first, w.agent_a, []))
    limits = models.company_limits.get(w.company)
    assert limits is not None
    assert (limits["open_count"], limits["paused"]) == (1, False)

    synced(models, app.set_open_limit(w.company, 1, by=w.admin, at=w.now()).position)
    assert [
        (h["open_count"], h["open_limit"], h["paused"])
        for h in models.company_limits.history(w.company)
    ] == [(2, 2, True), (1, 2, False), (1, 1, True)]
    assert models.company_limits.get(uuid4()) is None


def test_search_filters_each_narrow_the_list(app: ContactCenter, models: ReadModels) -> None:
    w = World(app)
    plain = w.receive("Order status", sender="ann@x.test", name="Ann").interaction_id
    percent = w.receive("100% sure", sender="bob@x.test", snippet="it is").interaction_id
    under = w.receive("snake_case issue", sender="cy@x.test").interaction_id
    w.receive("snakeXcase issue 100 percent", sender="dee@x.test")
    w.do("accept", plain, w.agent_a)
    w.do("mark", plain, w.agent_a, unread=True)
    w.do("change_tags", percent, w.admin, add=["vip"], remove=[])
    w.do("transfer_to_queue", under, w.admin, w.q2)
    since = w.now()
    late = w.receive("Late one", sender="eve@x.test", snippet="Ünïcode BODY").interaction_id
    other_company = World(app)
    other_company.receive("Order status")
    synced(models, other_company.position)

    def ids(**filters: object) -> set[UUID]:
        rows, _ = models.search.search(w.company, **filters)
        return {UUID(row["interaction_id"]) for row in rows}

    assert len(ids()) == 5
    assert ids(status="active") == {plain}
    assert ids(queue_id=w.q2) == {under}
    assert ids(agent_id=w.a) == {plain}
    assert ids(tag="vip") == {percent}
    assert ids(unread=False) == set()
    assert ids(unread=True, status="active") == {plain}
    assert ids(text="100%") == {percent}
    assert ids(text="e_c") == {under}
    assert ids(text="ANN") == {plain}
    assert ids(text="ünïcode body") == {late}
    assert ids(since=since) == {late}
    assert ids(visible_queue_ids=[w.q2]) == {under}
    assert ids(visible_queue_ids=[]) == set()
    ref = models.search.get(percent)
    assert ref is not None
    assert models.search.find_by_short_ref(w.company, ref["short_ref"].lower()) == percent
    assert models.search.find_by_short_ref(other_company.company, ref["short_ref"]) is None


def test_pages_visit_each_interaction_once_while_new_mail_arrives(
    app: ContactCenter, models: ReadModels
) -> None:
    w = World(app)
    expected = {w.receive(f"Question {n}").interaction_id for n in range(120)}
    synced(models, w.position)
    seen: list[UUID] = []
    cursor: str | None = None
    pages = 0
    while True:
        rows, cursor = models.search.search(w.company, limit=25, cursor=cursor)
        seen += [UUID(row["interaction_id"]) for row in rows]
        pages += 1
        if cursor is None:
            break
        w.receive("Arrived between pages")
        synced(models, w.position)
    assert pages == 5
    assert len(seen) == len(set(seen)) == 120
    assert set(seen) == expected
    assert models.search.search(w.company, limit=1000)[1] is None


def test_replaying_a_tracked_page_raises_and_changes_nothing(
    app: ContactCenter, models: ReadModels
) -> None:
    w = World(app)
    one = w.receive("Replay me").interaction_id
    w.do("accept", one, w.agent_a)
    synced(models, w.position)
    page = app.recorder.select_notifications(0, 1000, inclusive_of_start=False)
    for name in PROJECTION_NAMES:
        projection = models.projections[name]
        before = projection.view.dump()
        with pytest.raises(IntegrityError):
            process_page(app, projection, page)
        with pytest.raises(IntegrityError):
            process_page(app, projection, page[:3])
        assert projection.view.dump() == before, name


def test_a_rebuild_from_the_log_equals_the_live_view(
    app: ContactCenter, models: ReadModels
) -> None:
    w = World(app)
    for n in range(6):
        iid = w.receive(f"Mail {n}", snippet=f"text {n}").interaction_id
        w.do("accept", iid, w.agent_a if n % 2 else w.agent_b)
        if n % 3 == 0:
            w.do("change_tags", iid, w.agent_a if n % 2 else w.agent_b, add=["x"], remove=[])
            w.do("close_interaction", iid, w.agent_a if n % 2 else w.agent_b, [])
    synced(models, w.position)
    for name in PROJECTION_NAMES:
        live = models.projections[name].view.dump()
        progress: list[tuple[int, int]] = []
        models.rebuild(name, lambda done, total, seen=progress: seen.append((done, total)))
        assert progress[-1] == (w.position, w.position)
        assert models.projections[name].view.dump() == live, name
        assert any(live.values())
    synced(models, w.receive("After the rebuild").position)


def test_a_stopped_runner_resumes_from_its_tracking_position(
    app: ContactCenter, persistence: Persistence
) -> None:
    w = World(app)
    for n in range(8):
        w.do("accept", w.receive(f"Mail {n}").interaction_id, w.agent_a)
    timeline = Timeline.open(persistence.view_datastore("timeline"))
    runner = CatchUpRunner(app, timeline, page_size=4)
    assert runner.run_once() == 4
    runner.run_once()
    halfway = runner.position
    assert halfway < w.position
    del runner

    restarted = CatchUpRunner(app, timeline, page_size=4)
    assert restarted.position == halfway
    with restarted:
        assert restarted.wait(w.position, timeout=5.0)
    reference = Timeline.open(persistence.view_datastore("reference"), view_name="reference")
    rebuild(app, reference)
    assert timeline.view.dump() == reference.view.dump()
    timeline.view.close()
    reference.view.close()


def test_a_failing_event_stops_the_runner_and_keeps_its_position(
    app: ContactCenter, persistence: Persistence
) -> None:
    class Broken(Timeline):
        name = "timeline"

        @handles(*Timeline.handlers)
        def _explode(self, tx: Tx, e: object, position: int) -> None:
            if type(e).__name__ == "Accepted":
                raise RuntimeError("bug")
            Timeline.handlers[type(e)](self, tx, e, position)

    w = World(app)
    before = w.receive("Fine").position
    accepted = w.do("accept", w.receive("Boom").interaction_id, w.agent_a)
    broken = Broken.open(persistence.view_datastore("timeline"))
    runner = CatchUpRunner(app, broken, page_size=1)
    with runner:
        assert not runner.wait(accepted, timeout=5.0)
    assert isinstance(runner.error, ProjectionError)
    assert runner.error.notification_id <= accepted
    assert before <= runner.position == broken.view.max_tracking_id(app.name)
    assert runner.position < runner.error.notification_id
    broken.view.close()


def test_wait_returns_promptly_after_a_save_and_a_wake(
    app: ContactCenter, persistence: Persistence
) -> None:
    w = World(app)
    with ReadModels(persistence, app, idle_poll=5.0) as models:
        synced(models, w.position)
        position = w.receive("Quick").position
        started = time.monotonic()
        models.wake()
        assert models.wait(position, timeout=2.0)
        assert time.monotonic() - started < 0.5
        if persistence.is_postgres:  # LISTEN/NOTIFY wakes the runners without wake()
            position = w.receive("Quicker").position
            started = time.monotonic()
            assert models.wait(position, timeout=2.0)
            assert time.monotonic() - started < 0.5


def test_a_process_that_only_reads_sees_what_another_projects(
    app: ContactCenter, persistence: Persistence
) -> None:
    w = World(app)
    with ReadModels(persistence, app, start=False) as reader:
        position = w.receive("Projected elsewhere").position
        assert reader.lags(position) == dict.fromkeys(PROJECTION_NAMES, position)
        assert not reader.wait(position, timeout=0.2)
        with ReadModels(persistence, app):
            assert reader.wait(position, timeout=5.0)
        assert reader.lags(position) == dict.fromkeys(PROJECTION_NAMES, 0)
        assert reader.errors() == {}
