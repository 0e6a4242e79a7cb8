"""Mail-out fixtures: a real SMTP server (aiosmtpd, STARTTLS + AUTH, a test CA) and a company
whose mailbox sends through it, on SQLite or PostgreSQL, driven over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from fastapi.testclient import TestClient

from adapters.persistence import PostgresTarget
from api.app import create_app
from api.bootstrap import Services, build
from api.cli import migrate
from api.settings import Settings
from api.workers import send
from api.workers.send import SendConfig, SendWorker
from domain.actors import OPERATOR
from tests.api.conftest import OPERATOR_TOKEN
from tests.api.scenario import Company, bearer, company, ok
from tests.conftest import TEST_DATABASE_URL
from tests.fakes import FixedClock
from tests.integration.smtp_peer import Certificates, SmtpPeer, make_certificates


@pytest.fixture(scope="session")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="session")
def smtp_server(certificates: Certificates) -> Iterator[SmtpPeer]:
    peer = SmtpPeer(certificates).start()
    yield peer
    peer.stop()


@pytest.fixture
def smtp(smtp_server: SmtpPeer) -> SmtpPeer:
    """The session's SMTP server, emptied and answering 250 again."""
    smtp_server.reset()
    return smtp_server


def raw_email(
    *,
    sender: str = "Carol <carol@customer.test>",
    to: str = "support@acme.test",
    subject: str = "Invoice 42 is wrong",
    body: str = "Please fix my invoice.",
    message_id: str | None = None,
    in_reply_to: str | None = None,
    headers: dict[str, str] | None = None,
) -> bytes:
    """An inbound email; `headers` adds or overrides header fields (e.g. Reply-To, Cc)."""
    fields = {
        "From": sender,
        "To": to,
        "Subject": subject,
        "Message-ID": message_id or f"<{uuid4().hex}@customer.test>",
        "Date": "Mon, 02 Mar 2026 09:00:00 +0000",
        **({"In-Reply-To": in_reply_to, "References": in_reply_to} if in_reply_to else {}),
        "MIME-Version": "1.0",
        "Content-Type": "text/plain; charset=utf-8",
        **(headers or {}),
    }
    head = "".join(f"{name}: {value}\r\n" for name, value in fields.items() if value is not None)
    return f"{head}\r\n{body}\r\n".encode()


@dataclass
class Desk:
    """A company (admin, agents A and B, mailbox support@acme.test) sending through `peer`."""

    client: TestClient
    services: Services
    clock: FixedClock
    worker: SendWorker
    peer: SmtpPeer
    acme: Company

    @property
    def admin(self) -> dict[str, str]:
        return bearer(self.acme.admin)

    def configure_smtp(self, **changes: Any) -> None:
        smtp = {**self.peer.mailbox_settings(), **changes}
        body = {
            "address": "support@acme.test",
            "default_queue_id": self.acme.queues["General"],
            "smtp": smtp,
            "allow_plaintext": smtp.get("tls") == "none",
        }
        url = f"/v1/companies/{self.acme.id}/mailboxes/{self.acme.mailbox_id}"
        ok(self.client.put(url, headers=self.admin, json=body))

    def configure_auto_reply(self, **config: Any) -> None:
        """Auto-reply settings, written through the application (the sealed SMTP kept)."""
        app, cid = self.services.app, UUID(self.acme.id)
        mailbox = app.company(cid).mailboxes[self.acme.mailbox_id]
        app.change_mailbox(
            cid,
            UUID(self.acme.mailbox_id),
            address=mailbox["address"],
            default_queue_id=UUID(mailbox["default_queue_id"]),
            settings={**mailbox["settings"], "auto_reply": config},
            by=OPERATOR,
            at=self.clock(),
        )

    def post(self, raw: bytes, status: int | None = None) -> dict[str, Any]:
        response = self.client.post(
            f"/v1/companies/{self.acme.id}/inbound",
            content=raw,
            headers={**self.admin, "Content-Type": "message/rfc822"},
        )
        assert response.status_code in ((status,) if status else (200, 201)), response.text
        return dict(response.json())

    def act(self, interaction_id: str, command: str, status: int = 200, **body: Any) -> Any:
        response = self.client.post(
            f"/v1/interactions/{interaction_id}/{command}",
            headers=self.acme.token("A"),
            json=body or None,
        )
        assert response.status_code == status, response.text
        return response.json()

    def accepted(self, **email: Any) -> str:
        """An email from Carol, accepted by agent A."""
        interaction_id = str(self.post(raw_email(**email), 201)["interaction_id"])
        self.act(interaction_id, "accept")
        return interaction_id

    def deliver(self, passes: int = 1) -> None:
        for _ in range(passes):
            self.worker.run_once()

    def events(self, interaction_id: str) -> list[Any]:
        return list(self.services.app.events.get(UUID(interaction_id)))

    def event_names(self, interaction_id: str) -> list[str]:
        return [type(e).__name__ for e in self.events(interaction_id)]


def _settings(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> Settings:
    if backend == "sqlite":
        return Settings(data_dir=tmp_path / "var", admin_token=OPERATOR_TOKEN, run_workers=False)
    target: PostgresTarget = request.getfixturevalue("pg_schema")
    settings = Settings(
        data_dir=tmp_path / "var",
        admin_token=OPERATOR_TOKEN,
        database_url=TEST_DATABASE_URL,
        database_schema=target.schema,
        run_workers=False,
    )
    migrate(settings)
    send.migrate(settings)
    return settings


def _desk(settings: Settings, peer: SmtpPeer) -> Iterator[Desk]:
    clock = FixedClock()
    services = build(settings, clock=clock)
    services.read.start()  # the read models run here; the sender is driven by the test
    worker = SendWorker(services, SendConfig(name=f"test-{uuid4().hex[:8]}"))
    with TestClient(create_app(services)) as client:
        acme = company(client)
        desk = Desk(client, services, clock, worker, peer, acme)
        desk.configure_smtp()
        yield desk
        worker.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def desk(request: pytest.FixtureRequest, tmp_path: Path, smtp: SmtpPeer) -> Iterator[Desk]:
    """The same test on the embedded default and on PostgreSQL."""
    yield from _desk(_settings(request, request.param, tmp_path), smtp)


@pytest.fixture
def sqlite_desk(request: pytest.FixtureRequest, tmp_path: Path, smtp: SmtpPeer) -> Iterator[Desk]:
    """For tests where storage does not matter."""
    yield from _desk(_settings(request, "sqlite", tmp_path), smtp)
