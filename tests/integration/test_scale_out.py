"""Two `inboxflow project` and two `inboxflow ingest` processes on one fresh schema, a real
Dovecot with several mailboxes, mail arriving all along, and one process of each kind killed
with SIGKILL mid-stream. Then: every email recorded exactly once, every projection equal to a
rebuild from the log, and the survivors took over the dead ones' work within ten seconds."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from uuid import UUID

import pytest

from adapters.leases import LeaseSession
from adapters.persistence import PostgresTarget
from api.bootstrap import build
from api.cli import migrate
from api.settings import Settings
from api.workers.mailbox_share import MAILBOX
from domain.application.ingestion import Folder
from projections.registry import PROJECTION_NAMES, PROJECTIONS
from projections.runner import rebuild
from tests.conftest import TEST_DATABASE_URL
from tests.integration.cli_process import CliProcess, base_environment
from tests.integration.dovecot import Dovecot
from tests.integration.imap_stack import Stack, new_user, plain_email

pytest_plugins = ["tests.integration.conftest_imap"]

MAILBOXES = 4
EVERY = 0.05  # seconds between two arrivals (across the mailboxes)
BEFORE_KILL = 4.0  # seconds of arrivals before the kills
AFTER_TAKEOVER = 2.0  # seconds of arrivals once both takeovers were seen
TAKEOVER_WITHIN = 10.0


@dataclass
class Arrivals:
    """Mail APPENDed to the mailboxes in turn, from a thread, until stopped."""

    dovecot: Dovecot
    usernames: list[str]
    sent: list[str] = field(default_factory=list)  # Message-IDs
    stopping: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self._run, daemon=True)
        thread.start()
        return thread

    def _run(self) -> None:
        clients = [self.dovecot.client(name) for name in self.usernames]
        try:
            while not self.stopping.is_set():
                n = len(self.sent)
                raw = plain_email(n)
                clients[n % len(clients)].append("INBOX", raw)
                self.sent.append(_message_id(raw))
                self.stopping.wait(EVERY)
        except BaseException as error:
            self.error = error
        finally:
            for client in clients:
                client.logout()


def _message_id(raw: bytes) -> str:
    line = next(x for x in raw.split(b"\r\n") if x.startswith(b"Message-ID: "))
    return line.split(b": ", 1)[1].decode()


def waited(check: Callable[[], bool], timeout: float, what: str) -> float:
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            pytest.fail(f"{what}: not within {timeout} s")
        time.sleep(0.05)
    return time.monotonic()


@pytest.fixture
def settings(pg_schema: PostgresTarget, tmp_path: Path) -> Settings:
    settings = Settings(
        data_dir=tmp_path / "var",
        database_url=TEST_DATABASE_URL,
        database_schema=pg_schema.schema,
        secret_key="scale-out-test-key",
        run_workers=False,
    )
    migrate(settings)
    return settings


@pytest.fixture
def processes() -> Iterator[list[CliProcess]]:
    started: list[CliProcess] = []
    yield started
    for process in started:
        process.close()


@pytest.fixture
def stack(settings: Settings) -> Iterator[Stack]:
    """The test's own view of the schema: a company, the log, the views (nothing runs)."""
    opened = Stack(build(settings))
    yield opened
    opened.services.close()


@pytest.fixture
def observer(settings: Settings) -> Iterator[LeaseSession]:
    """A session that holds no lease: it asks who holds which."""
    target = PostgresTarget.from_url(TEST_DATABASE_URL, schema=settings.database_schema)
    session = LeaseSession(target.conninfo(), schema=target.schema, owner="observer")
    yield session
    session.close()


def test_killed_projectors_and_ingesters_are_taken_over_and_nothing_doubles(
    dovecot: Dovecot,
    settings: Settings,
    tmp_path: Path,
    processes: list[CliProcess],
    stack: Stack,
    observer: LeaseSession,
) -> None:
    users = [new_user(dovecot) for _ in range(MAILBOXES)]
    mailboxes = [stack.add_mailbox(dovecot, user, address=f"box{i}@acme.test")
                 for i, user in enumerate(users)]  # fmt: skip
    env = {
        **base_environment(tmp_path),
        "INBOXFLOW_DATABASE_URL": TEST_DATABASE_URL,
        "INBOXFLOW_DATABASE_SCHEMA": settings.database_schema,
        "INBOXFLOW_DATA_DIR": str(settings.data_dir),
        "INBOXFLOW_SECRET_KEY": "scale-out-test-key",
        "INBOXFLOW_RUN_WORKERS": "false",
    }
    for command in ("project", "project", "ingest", "ingest"):
        processes.append(CliProcess([command], env))
    for process in processes:
        process.wait_for("ready", timeout=45, worker=process.args[0])
    read, app = stack.services.read, stack.services.app
    arrivals = Arrivals(dovecot, [u.username for u in users])
    appending = arrivals.start()
    try:
        time.sleep(BEFORE_KILL)
        waited(lambda: len(stack.interactions()) > 0, 20, "first emails recorded")
        boxes = [str(m) for m in mailboxes]
        waited(lambda: all(observer.holder(MAILBOX, box) for box in boxes), 15, "mailboxes leased")
        projector = _busiest(processes[:2], observer, "projection", PROJECTION_NAMES)
        ingester = _busiest(processes[2:], observer, MAILBOX, boxes)
        taken_projections = _held_by(projector, observer, "projection", PROJECTION_NAMES)
        taken_mailboxes = [UUID(m) for m in _held_by(ingester, observer, MAILBOX, boxes)]
        positions = {n: read.projections[n].view.max_tracking_id(app.name) or 0
                     for n in taken_projections}  # fmt: skip
        last_uids = {m: _last_uid(stack, m) for m in taken_mailboxes}
        projector.kill()
        killed_at = ingester.kill()
        took: dict[str, float] = {}
        for name, position in positions.items():
            survivor_has_it = waited(
                lambda n=name, p=position: (
                    (read.projections[n].view.max_tracking_id(app.name) or 0) > p
                    and _pid(observer.holder("projection", n)) not in (None, projector.pid)
                ),
                TAKEOVER_WITHIN + 5,
                f"projection {name} taken over",
            )
            took[name] = survivor_has_it - killed_at
        for mailbox_id, uid in last_uids.items():
            moved = waited(
                lambda m=mailbox_id, u=uid: _last_uid(stack, m) > u,
                TAKEOVER_WITHIN + 5,
                f"mailbox {mailbox_id} taken over",
            )
            took[str(mailbox_id)] = moved - killed_at
        time.sleep(AFTER_TAKEOVER)
    finally:
        arrivals.stopping.set()
        appending.join(10)
    assert arrivals.error is None, arrivals.error
    sent = arrivals.sent
    waited(lambda: len(stack.interactions()) >= len(sent), 40, "every email recorded")
    head = app.recorder.max_notification_id() or 0
    waited(lambda: all(p >= head for p in read.positions().values()), 30, "projections at the head")
    survivors = [p for p in processes if p.process.poll() is None]
    assert len(survivors) == 2
    stops = [p.stop(signal.SIGTERM) for p in survivors]

    recorded = [e.message["rfc_message_id"] for e in stack.interactions()]
    print(f"{len(sent)} emails; takeover after {max(took.values()):.2f} s at most: {took}")
    assert len(recorded) == len(sent)  # none recorded twice
    assert sorted(recorded) == sorted(sent)  # none lost
    assert taken_projections
    assert taken_mailboxes
    assert max(took.values()) < TAKEOVER_WITHIN, took
    assert [status for status, _ in stops] == [0, 0]
    persistence = settings.persistence()
    for cls in PROJECTIONS:
        live = read.projections[cls.name]
        reference = cls.open(persistence.view_datastore(cls.name), view_name=f"{cls.name}_again")
        rebuild(app, reference)
        assert reference.view.dump() == live.view.dump(), cls.name
        reference.view.close()


def _pid(owner: str | None) -> int | None:
    """The pid in a lease holder's name (`inboxflow-<worker>-<host>-<pid>`)."""
    return int(owner.rsplit("-", 1)[1]) if owner else None


def _held_by(
    process: CliProcess, observer: LeaseSession, kind: str, names: Sequence[str]
) -> list[str]:
    return [name for name in names if _pid(observer.holder(kind, name)) == process.pid]


def _busiest(
    candidates: list[CliProcess], observer: LeaseSession, kind: str, names: Sequence[str]
) -> CliProcess:
    """The process holding the most of these leases (each held by one of them)."""
    held = {p.pid: len(_held_by(p, observer, kind, names)) for p in candidates}
    assert sum(held.values()) == len(names), f"{kind}: some leases are not held: {held}"
    return max(candidates, key=lambda p: held[p.pid])


def _last_uid(stack: Stack, mailbox_id: UUID) -> int:
    folder = Folder(stack.company_id, mailbox_id, "INBOX", 0)
    checkpoint = stack.services.app.checkpoint(folder)
    return checkpoint.last_uid if checkpoint is not None else 0
