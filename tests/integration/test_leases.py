"""Leases on real PostgreSQL: one holder at a time, freed by the server when the holder's process
dies, noticed by a holder that lost its session; and projection pages claimed on their tracking
row, so that a runner which lost its lease cannot apply an event twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from uuid import UUID, uuid4

import psycopg
import pytest
from eventsourcing.persistence import Tracking

from adapters.leases import LeaseSession, lease_key
from adapters.persistence import Persistence, PostgresTarget
from api import sending
from api.schemas.interactions import ReplyIn
from api.workers.mailbox_share import MailboxShare
from api.workers.send import SendConfig, SendWorker
from domain.actors import OPERATOR, Actor
from domain.application import ContactCenter
from domain.company import Company
from projections.base import Projection, Table, Tx, handles
from projections.runner import CatchUpRunner, rebuild
from tests.fakes import FixedClock
from tests.integration.conftest import Desk

ROOT = Path(__file__).resolve().parents[2]
Sessions = Callable[..., LeaseSession]  # opens a lease session for an owner name


class CompaniesCounted(Projection):
    """Counts companies: applying an event twice shows."""

    name = "companies_counted"
    tables = (Table("counts", "what TEXT NOT NULL, n BIGINT NOT NULL", "what"),)

    @handles(Company.Created)
    def _created(self, tx: Tx, e: Company.Created, position: int) -> None:
        tx.execute(
            "INSERT INTO {counts} (what, n) VALUES ('companies', 1) "
            "ON CONFLICT (what) DO UPDATE SET n = {counts}.n + 1"
        )

    def count(self) -> int:
        rows = self.view.select("SELECT n FROM {counts} WHERE what = 'companies'")
        return int(rows[0]["n"]) if rows else 0


@pytest.fixture
def session_of(pg_schema: PostgresTarget) -> Iterator[Sessions]:
    sessions: list[LeaseSession] = []

    def open_session(owner: str, check_every: float = 0.1) -> LeaseSession:
        session = LeaseSession(
            pg_schema.conninfo(), schema=pg_schema.schema, owner=owner, check_every=check_every
        )
        sessions.append(session)
        return session

    yield open_session
    for session in sessions:
        session.close()


def eventually(check: Callable[[], object], timeout: float) -> float:
    """Seconds until `check()` is true; fails after `timeout`."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            pytest.fail(f"not within {timeout} s")
        time.sleep(0.05)
    return time.monotonic() - started


def test_one_session_holds_a_lease_and_the_holder_is_known(
    session_of: Sessions,
) -> None:
    a, b = session_of("worker-a"), session_of("worker-b")
    assert a.lease("projection", "timeline").acquire()
    assert a.lease("projection", "timeline").acquire()  # again: still ours, not counted twice
    assert not b.lease("projection", "timeline").acquire()
    assert b.lease("projection", "search").acquire()
    assert b.holder("projection", "timeline") == "worker-a"
    assert a.holder("projection", "search") == "worker-b"
    lease = a.lease("projection", "timeline")
    lease.acquire()
    lease.release()
    assert b.lease("projection", "timeline").acquire()
    assert a.holder("projection", "timeline") == "worker-b"


def test_schemas_sharing_a_database_do_not_share_leases(
    session_of: Sessions, pg_schema: PostgresTarget
) -> None:
    assert lease_key("one", "projection", "timeline") != lease_key("two", "projection", "timeline")
    here = session_of("here")
    elsewhere = LeaseSession(pg_schema.conninfo(), schema=f"{pg_schema.schema}_x", owner="there")
    try:
        assert here.lease("send", "outbox").acquire()
        assert elsewhere.lease("send", "outbox").acquire()
    finally:
        elsewhere.close()


def test_a_killed_holder_frees_its_leases_at_once(
    session_of: Sessions, pg_schema: PostgresTarget
) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, pg_schema.conninfo(), pg_schema.schema],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        standby = session_of("standby")
        assert not standby.lease("projection", "timeline").acquire()
        assert standby.members("ingest-workers") == 1
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        took = eventually(standby.lease("projection", "timeline").acquire, timeout=5)
    finally:
        holder.kill()
        holder.wait()
    assert took < 2.0
    assert standby.members("ingest-workers") == 0


HOLDER = """
import sys, time
from adapters.leases import LeaseSession
session = LeaseSession(sys.argv[1], schema=sys.argv[2], owner="doomed")
assert session.lease("projection", "timeline").acquire()
assert session.join("ingest-workers").acquire()
print("held", flush=True)
time.sleep(60)
"""


def test_a_holder_whose_session_was_cut_knows_it_lost_its_leases(
    session_of: Sessions, postgres_url: str
) -> None:
    a, b = session_of("cut-off"), session_of("other")
    lease = a.lease("send", "outbox")
    assert lease.acquire()
    assert lease.held
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            ("cut-off",),
        )
    eventually(lambda: not lease.held, timeout=3)
    assert b.lease("send", "outbox").acquire()
    assert not lease.acquire()  # a new session now, but the lease is someone else's


def test_members_are_counted_across_sessions(session_of: Sessions) -> None:
    a, b, c = session_of("a"), session_of("b"), session_of("c")
    assert a.join("ingest-workers").acquire()
    assert b.join("ingest-workers").acquire()
    assert c.join("project-workers").acquire()
    assert c.members("ingest-workers") == 2
    b.close()  # the server ends the session (and its locks) a moment later
    eventually(lambda: a.members("ingest-workers") == 1, timeout=3)


@pytest.fixture
def app(pg_schema: PostgresTarget, tmp_path: Path) -> Iterator[ContactCenter]:
    app = ContactCenter(env=Persistence(tmp_path, pg_schema, pool_size=2).application_env())
    yield app
    app.close()


def counted(pg_schema: PostgresTarget, tmp_path: Path, view_name: str) -> CompaniesCounted:
    persistence = Persistence(tmp_path, pg_schema, pool_size=2)
    return CompaniesCounted.open(persistence.view_datastore("x"), view_name=view_name)


def create_companies(app: ContactCenter, clock: FixedClock, n: int) -> None:
    for _ in range(n):
        app.create_company(
            uuid4(), name="Acme", timezone="UTC", open_limit=10, by=OPERATOR, at=clock()
        )


def test_a_runner_behind_the_tracked_position_applies_no_event_twice(
    app: ContactCenter, pg_schema: PostgresTarget, tmp_path: Path
) -> None:
    clock = FixedClock()
    live = counted(pg_schema, tmp_path, "counted")
    active = CatchUpRunner(app, live, listen=False)
    zombie = CatchUpRunner(app, live, listen=False)  # lost its lease; has not noticed yet
    create_companies(app, clock, 3)
    while active.run_once():
        pass
    create_companies(app, clock, 2)
    assert zombie.position < active.position
    zombie.run_once()  # its page overlaps what the active runner applied
    assert live.count() == 5
    assert zombie.position == app.recorder.max_notification_id()
    active.run_once()  # finds its next page taken: moves to the tracked position
    assert active.position == zombie.position
    reference = counted(pg_schema, tmp_path, "counted_again")
    rebuild(app, reference)
    assert reference.view.dump() == live.view.dump()

    # a page that starts before the tracked position applies only the events past it
    create_companies(app, clock, 1)
    head = app.recorder.max_notification_id() or 0
    page = app.recorder.select_notifications(0, 1000, inclusive_of_start=False)
    events = [(app.mapper.to_domain_event(n), n.id) for n in page if n.topic in live.topics]
    with live.view.transaction(commit=False) as tx:  # the library's tracking alone accepts it
        live.view.track(tx, Tracking(live.application_name, head))
    live.process_batch(events, position=head)
    assert live.count() == 5 + 1


def test_a_standby_runner_takes_over_when_the_holder_dies(
    app: ContactCenter,
    pg_schema: PostgresTarget,
    tmp_path: Path,
    session_of: Sessions,
) -> None:
    clock = FixedClock()
    view = counted(pg_schema, tmp_path, "counted")
    first, second = session_of("first"), session_of("second")
    active = CatchUpRunner(app, view, listen=False, idle_poll=0.02)
    standby = CatchUpRunner(app, counted(pg_schema, tmp_path, "counted"), listen=False)
    active.start(first.lease("projection", "counted"))
    eventually(lambda: active.is_active, timeout=3)
    standby.start(second.lease("projection", "counted"))
    try:
        create_companies(app, clock, 2)
        eventually(lambda: view.count() == 2, timeout=5)
        time.sleep(0.3)
        assert not standby.is_active
        active.stop(release=False)  # its process dies: the server ends its session
        first.close()
        took = eventually(lambda: standby.is_active, timeout=5)
        create_companies(app, clock, 2)
        eventually(lambda: view.count() == 4, timeout=5)
    finally:
        active.stop()
        standby.stop()
    assert took < 3.0
    assert active.error is None
    assert standby.error is None


def test_ingest_workers_share_the_mailboxes_fairly_and_take_over_a_dead_ones(
    session_of: Sessions,
) -> None:
    mailboxes = [uuid4() for _ in range(5)]
    first, second = MailboxShare(session_of("first")), MailboxShare(session_of("second"))
    alone = first.assign(mailboxes, busy=())
    assert alone == set(mailboxes)  # the only worker: everything
    assert second.assign(mailboxes, busy=()) == set()  # all taken; the share is 3 now
    given_back = first.assign(mailboxes, busy=())
    assert len(given_back) == 3  # what exceeded its share went back (no thread was busy)
    taken = second.assign(mailboxes, busy=())
    assert (len(taken), taken & given_back) == (2, set())
    third = MailboxShare(session_of("third"))
    assert third.assign(mailboxes, busy=()) == set()  # share 2: first must give one back
    kept = first.assign(mailboxes, busy=given_back)
    assert len(kept) == 2
    assert third.assign(mailboxes, busy=()) == set()  # first's thread still runs: still its lease
    first.assign(mailboxes, busy=kept)  # that thread ended
    assert len(third.assign(mailboxes, busy=())) == 1
    second.session.close()  # second dies
    eventually(lambda: first.session.members("ingest-workers") == 2, timeout=3)
    assert len(first.assign(mailboxes, busy=())) == 3
    assert len(third.assign(mailboxes, busy=())) == 2


def queue_replies(desk: Desk, count: int) -> list[str]:
    agent = Actor("agent", UUID(desk.acme.agent_id("A")))
    interaction_id = UUID(desk.accepted())
    return [
        sending.reply(
            desk.services, UUID(desk.acme.id), interaction_id, ReplyIn(body_text=f"#{n}"), agent
        ).aggregate.outbox[-1]
        for n in range(count)
    ]


@pytest.mark.parametrize("desk", ["postgres"], indirect=True)
def test_one_send_worker_delivers_while_another_stands_by_and_takes_over(
    desk: Desk, session_of: Sessions
) -> None:
    config = SendConfig(idle_poll=0.05)
    lease_one = session_of("send-1").lease("send", "outbox")
    lease_two = session_of("send-2").lease("send", "outbox")
    first = SendWorker(desk.services, config, lease=lease_one)
    second = SendWorker(desk.services, config, lease=lease_two)
    first.start()
    eventually(lambda: lease_one.held, timeout=5)
    second.start()
    try:
        queue_replies(desk, 3)
        desk.peer.wait_for(3, timeout=10)
        assert not lease_two.held
        first.stop()  # then its process dies: the server ends its session, and its lease
        lease_one.session.close()
        queue_replies(desk, 3)
        desk.peer.wait_for(6, timeout=10)
        assert lease_two.held
    finally:
        second.stop()
        first.stop()
    copies = Counter(m.message_id for m in desk.peer.delivered)
    assert sorted(copies.values()) == [1] * 6  # each once: never two senders at a time
