"""Two API processes on one PostgreSQL database, each trusting its own aggregate cache: a stale
copy never loses or overwrites an event, and no command's outcome rests on one."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from copy import deepcopy
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import IntegrityError

from adapters.persistence import Persistence, PostgresTarget
from domain.actors import OPERATOR, Actor
from domain.application import ContactCenter
from domain.application.optimistic import TrustingRepository, copy_of
from domain.errors import UnknownSubstatus
from domain.interaction import Interaction
from domain.messages import InboundEmail

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
THREADS, NOTES, CLIENT_TRIES = 4, 10, 20


class Desk:
    """One company, one agent owning one active email, as both processes know them."""

    def __init__(self, app: ContactCenter) -> None:
        self.company, admin = uuid4(), Actor("admin", uuid4())
        app.create_company(
            self.company, name="C", timezone="UTC", open_limit=100, by=OPERATOR, at=AT
        )
        queue, agent = uuid4(), uuid4()
        app.create_queue(queue, self.company, name="Q", priority=1, by=admin, at=AT)
        app.register_user(
            agent, self.company, name="a", email="a@stale.test", role="agent",
            queue_ids=[queue], capacity=10, token_hash=str(uuid4()), by=admin, at=AT,
        )  # fmt: skip
        email = InboundEmail(rfc_message_id=f"<{uuid4()}@stale.test>", sender="c@stale.test")
        interaction = Interaction(
            id=uuid4(), company_id=self.company, mailbox="support@stale.test",
            message=email.info(uuid4()), continues=None, actor="customer", timestamp=AT,
        )  # fmt: skip
        interaction.route(queue, None, 0, "test", at=AT)
        self.agent = Actor("agent", agent)
        interaction.accept(self.agent, at=AT)
        app.save(interaction)
        self.admin, self.interaction = admin, interaction.id

    def note(self, app: ContactCenter, text: str) -> int:
        saved = app.add_note(
            self.interaction, uuid4(), text, scope=self.company, by=self.agent, at=AT
        )
        return int(saved.aggregate.version)

    def substatus(self, app: ContactCenter, name: str) -> None:
        app.set_substatus(self.interaction, name, scope=self.company, by=self.agent, at=AT)


@pytest.fixture
def processes(pg_schema: PostgresTarget, tmp_path: Path) -> Iterator[tuple[ContactCenter, ...]]:
    env = Persistence(data_dir=tmp_path, postgres=pg_schema, pool_size=THREADS).application_env()
    first, second = ContactCenter(env=env), ContactCenter(env=env)
    for app in (first, second):
        assert isinstance(app.repository, TrustingRepository)
        assert not app.repository.fastforward
    yield first, second
    first.close()
    second.close()


def notes(app: ContactCenter, interaction_id: UUID) -> list[tuple[int, str]]:
    return [
        (event.originator_version, event.text)
        for event in app.events.get(interaction_id)
        if isinstance(event, Interaction.NoteAdded)
    ]


def cached_version(app: ContactCenter, aggregate_id: UUID) -> int:
    assert app.repository.cache is not None
    return int(app.repository.cache.get(aggregate_id).version)


def test_a_stale_copy_conflicts_and_the_retry_keeps_both_events(
    processes: tuple[ContactCenter, ...],
) -> None:
    a, b = processes
    desk = Desk(a)
    before = cached_version(a, desk.interaction)
    assert desk.note(b, "from b") == before + 1
    assert cached_version(a, desk.interaction) == before  # a's copy is now stale
    assert desk.note(a, "from a") == before + 2
    assert notes(a, desk.interaction) == [(before + 1, "from b"), (before + 2, "from a")]
    assert desk.note(b, "b again") == before + 3  # b's copy was stale in turn
    assert [text for _, text in notes(b, desk.interaction)] == ["from b", "from a", "b again"]


def test_interleaved_writers_in_two_processes_lose_no_note(
    processes: tuple[ContactCenter, ...],
) -> None:
    desk = Desk(processes[0])
    start, failures = threading.Barrier(2 * THREADS), []

    def write(app: ContactCenter, name: str) -> None:
        start.wait()
        try:
            for n in range(NOTES):
                for _ in range(CLIENT_TRIES):
                    try:
                        desk.note(app, f"{name}.{n}")
                        break
                    except IntegrityError:  # out of retries on one hot email: the client retries
                        continue
        except Exception as error:
            failures.append(error)

    threads = [
        threading.Thread(target=write, args=(app, f"{p}{t}"))
        for p, app in enumerate(processes)
        for t in range(THREADS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    stored = notes(processes[1], desk.interaction)
    versions = [version for version, _ in stored]
    assert versions == list(range(versions[0], versions[0] + 2 * THREADS * NOTES))
    texts = [text for _, text in stored]
    assert sorted(texts) == sorted(
        f"{p}{t}.{n}" for p in (0, 1) for t in range(THREADS) for n in range(NOTES)
    )
    for p in (0, 1):
        for t in range(THREADS):
            mine = [text for text in texts if text.startswith(f"{p}{t}.")]
            assert mine == [f"{p}{t}.{n}" for n in range(NOTES)]  # each writer's order kept


def test_a_refusal_on_a_stale_read_is_checked_and_the_command_runs_again(
    processes: tuple[ContactCenter, ...],
) -> None:
    a, b = processes
    desk = Desk(a)
    desk.substatus(b, "Pending")  # b caches the company: only the built-in sub-status
    a.define_substatuses(desk.company, ["Waiting on customer"], by=desk.admin, at=AT)
    desk.substatus(b, "Waiting on customer")
    assert b.interaction(desk.interaction).substatus == "Waiting on customer"


def test_a_permission_from_a_stale_read_is_checked_before_the_save(
    processes: tuple[ContactCenter, ...],
) -> None:
    a, b = processes
    desk = Desk(a)
    a.define_substatuses(desk.company, ["Waiting on customer"], by=desk.admin, at=AT)
    desk.substatus(b, "Waiting on customer")  # b caches the company with it
    a.define_substatuses(desk.company, [], by=desk.admin, at=AT)
    stale_company = cached_version(b, desk.company)
    with pytest.raises(UnknownSubstatus):
        desk.substatus(b, "Waiting on customer")
    assert cached_version(b, desk.company) > stale_company


def test_loads_outside_a_command_are_brought_up_to_date(
    processes: tuple[ContactCenter, ...],
) -> None:
    a, b = processes
    desk = Desk(a)
    assert b.company(desk.company).substatuses == ["Pending"]
    a.define_substatuses(desk.company, ["Waiting on customer"], by=desk.admin, at=AT)
    assert b.company(desk.company).substatuses == ["Pending", "Waiting on customer"]


def test_copies_from_the_cache_equal_deep_copies_and_share_no_container(
    processes: tuple[ContactCenter, ...],
) -> None:
    app = processes[0]
    desk = Desk(app)
    desk.substatus(app, "Pending")
    agent_id = desk.agent.user_id
    assert agent_id is not None
    for aggregate in (
        app.company(desk.company),
        app.agent(agent_id),
        app.interaction(desk.interaction),
    ):
        copied = copy_of(aggregate)
        assert vars(copied) == vars(deepcopy(aggregate))
        for name, value in vars(aggregate).items():
            if isinstance(value, list | dict | set):
                assert getattr(copied, name) is not value, name
