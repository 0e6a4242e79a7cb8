"""Helpers of the IMAP tests: a Dovecot to start, users, and an ingestion stack (services, read
models, ingester) with a company; the fixtures are in `conftest_imap`."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.utils import get_topic

from api.bootstrap import Services, build
from api.settings import Settings
from api.workers.ingest import Ingester
from api.workers.ingest_mailbox import Committed, IngestOptions
from domain.actors import OPERATOR, Actor
from domain.interaction import Interaction
from domain.records import QuarantinedMessage
from tests.conftest import service_missing
from tests.integration.dovecot import Dovecot, is_installed

FAST = IngestOptions(
    chunk_messages=50,
    refresh_seconds=0.2,
    pause_check_seconds=0.1,
    first_backoff=0.2,
    timeout=10,
)
ADMIN = Actor("admin", UUID(int=1))


@dataclass(frozen=True)
class ImapUser:
    username: str
    password: str


def start_dovecot(*, self_signed: bool = False) -> Dovecot:
    if not is_installed():
        service_missing("Dovecot", "dovecot-imapd is not installed (.ci/run installs it)")
    server = Dovecot(self_signed=self_signed)
    server.start()
    return server


def new_user(server: Dovecot) -> ImapUser:
    """A mailbox of its own on `server` (created at the first login)."""
    return ImapUser(f"u{uuid4().hex[:12]}@acme.test", server.password)


@dataclass
class Stack:
    """A company with one queue, read models running, and an ingester once `start`ed."""

    services: Services
    open_limit: int = 1000
    company_id: UUID = field(default_factory=uuid4)
    queue_id: UUID = field(default_factory=uuid4)
    ingester: Ingester | None = None

    def __post_init__(self) -> None:
        app, now = self.services.app, self.services.clock()
        app.create_company(
            self.company_id,
            name="Acme",
            timezone="UTC",
            open_limit=self.open_limit,
            by=OPERATOR,
            at=now,
        )
        app.create_queue(
            self.queue_id, self.company_id, name="Support", priority=1, by=ADMIN, at=now
        )

    def add_mailbox(
        self,
        server: Dovecot,
        user: ImapUser,
        *,
        address: str = "support@acme.test",
        tls: str = "implicit",
        ca_file: str | Path | None = "default",
        folders: tuple[str, ...] = ("INBOX",),
        poll_seconds: float = 1,
        password: str | None = None,
    ) -> UUID:
        """An IMAP mailbox of the company on `server`, set up as the API would store it."""
        mailbox_id = uuid4()
        port = server.imaps_port if tls == "implicit" else server.imap_port
        imap = {
            "host": "127.0.0.1",
            "port": port,
            "tls": tls,
            "ca_file": str(server.ca_file) if ca_file == "default" else ca_file and str(ca_file),
            "username": user.username,
            "password": self.services.secrets.seal(password or user.password),
            "folders": list(folders),
            "poll_seconds": poll_seconds,
        }
        self.services.app.add_mailbox(
            self.company_id,
            mailbox_id,
            address=address,
            default_queue_id=self.queue_id,
            settings={"allow_plaintext": tls == "none", "imap": imap, "smtp": None},
            by=ADMIN,
            at=self.services.clock(),
        )
        return mailbox_id

    def start(
        self, options: IngestOptions = FAST, on_committed: Committed | None = None
    ) -> Ingester:
        self.ingester = Ingester(
            self.services, self.services.mailbox_status, options, on_committed=on_committed
        )
        self.ingester.start()
        return self.ingester

    def stop(self) -> None:
        if self.ingester is not None:
            self.ingester.stop()
            self.ingester = None

    def events(self, *classes: type) -> list[Any]:
        app = self.services.app
        topics = [get_topic(cls) for cls in classes]
        found, position = [], 0
        while page := app.recorder.select_notifications(
            position, 1000, topics=topics, inclusive_of_start=False
        ):
            found += [app.mapper.to_domain_event(n) for n in page]
            position = page[-1].id
        return [e for e in found if getattr(e, "company_id", None) == self.company_id]

    def interactions(self) -> list[Interaction.Received]:
        return self.events(Interaction.Received)

    def quarantined(self) -> list[QuarantinedMessage.Quarantined]:
        return self.events(QuarantinedMessage.Quarantined)

    def status(self, mailbox_id: UUID) -> dict[str, Any]:
        return self.services.mailbox_status.get(mailbox_id) or {}


def eventually(check: Callable[[], Any], timeout: float = 30.0, every: float = 0.05) -> Any:
    """Polls `check` until it returns something truthy; fails with its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout} s: last value {value!r}")
        time.sleep(every)


def open_stack(settings: Settings, open_limit: int = 1000) -> Stack:
    services = build(settings)
    services.read.start()
    return Stack(services, open_limit=open_limit)


def plain_email(n: int, *, to: str = "support@acme.test", **headers: str) -> bytes:
    extra = "".join(f"{k.replace('_', '-')}: {v}\r\n" for k, v in headers.items())
    return (
        f"From: Carol <carol{n % 7}@customer.test>\r\nTo: {to}\r\nSubject: Order {n}\r\n"
        f"Message-ID: <m{n}.{uuid4().hex[:8]}@customer.test>\r\n"
        f"Date: Mon, 02 Mar 2026 09:00:00 +0000\r\n{extra}MIME-Version: 1.0\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\nHello, this is message {n}.\r\n"
    ).encode()
