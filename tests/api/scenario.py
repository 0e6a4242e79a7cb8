"""Scenario helpers that chain through the HTTP API, as a client would."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import uuid4

from fastapi.testclient import TestClient

from tests.api.conftest import OPERATOR_TOKEN


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def raw_email(
    *,
    sender: str = "carol@customer.test",
    to: str = "support@acme.test",
    subject: str = "Invoice 42 is wrong",
    body: str = "Please fix my invoice.",
    message_id: str | None = None,
    in_reply_to: str | None = None,
) -> bytes:
    message_id = message_id or f"<{uuid4().hex}@customer.test>"
    threading = (
        f"In-Reply-To: {in_reply_to}\r\nReferences: {in_reply_to}\r\n" if in_reply_to else ""
    )
    return (
        f"From: Carol <{sender}>\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Message-ID: {message_id}\r\nDate: Mon, 02 Mar 2026 09:00:00 +0000\r\n{threading}"
        f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    ).encode()


@dataclass
class Company:
    id: str
    admin: str
    queues: dict[str, str] = field(default_factory=dict)
    agents: dict[str, tuple[str, str]] = field(default_factory=dict)
    mailbox_id: str = ""

    def token(self, name: str) -> dict[str, str]:
        return bearer(self.agents[name][1])

    def agent_id(self, name: str) -> str:
        return self.agents[name][0]


def company(
    client: TestClient, name: str = "Acme", open_limit: int = 100, domain: str = "acme.test"
) -> Company:
    """A company with an admin, queues General and Billing, agents A and B, one mailbox."""
    operator = bearer(OPERATOR_TOKEN)
    created = ok(
        client.post(
            "/v1/companies",
            headers=operator,
            json={"name": name, "open_limit": open_limit, "timezone": "Europe/Berlin"},
        ),
        201,
    )
    admin = ok(
        client.post(
            f"/v1/companies/{created['id']}/users",
            headers=operator,
            json={"name": "Ada", "email": f"ada@{domain}", "role": "admin"},
        ),
        201,
    )
    result = Company(created["id"], admin["token"])
    for queue in ("General", "Billing"):
        result.queues[queue] = ok(
            client.post(
                f"/v1/companies/{result.id}/queues",
                headers=bearer(result.admin),
                json={"name": queue, "priority": 5},
            ),
            201,
        )["id"]
    for agent in ("A", "B"):
        user = ok(
            client.post(
                f"/v1/companies/{result.id}/users",
                headers=bearer(result.admin),
                json={
                    "name": agent,
                    "email": f"{agent.lower()}@{domain}",
                    "role": "agent",
                    "queues": list(result.queues.values()),
                },
            ),
            201,
        )
        result.agents[agent] = (user["id"], user["token"])
    supervisor = ok(
        client.post(
            f"/v1/companies/{result.id}/users",
            headers=bearer(result.admin),
            json={"name": "Sue", "email": f"sue@{domain}", "role": "supervisor"},
        ),
        201,
    )
    result.agents["supervisor"] = (supervisor["id"], supervisor["token"])
    result.mailbox_id = ok(
        client.post(
            f"/v1/companies/{result.id}/mailboxes",
            headers=bearer(result.admin),
            json={"address": f"support@{domain}", "default_queue_id": result.queues["General"]},
        ),
        201,
    )["id"]
    return result


def post_email(client: TestClient, acme: Company, raw: bytes, status: int = 201) -> Any:
    return ok(
        client.post(
            f"/v1/companies/{acme.id}/inbound",
            content=raw,
            headers={**bearer(acme.admin), "Content-Type": "message/rfc822"},
        ),
        status,
    )


def received_interaction(client: TestClient, acme: Company, **email: Any) -> str:
    return str(post_email(client, acme, raw_email(**email))["interaction_id"])


def accepted_interaction(client: TestClient, acme: Company, agent: str = "A") -> str:
    interaction_id = received_interaction(client, acme)
    ok(client.post(f"/v1/interactions/{interaction_id}/accept", headers=acme.token(agent)))
    return interaction_id
