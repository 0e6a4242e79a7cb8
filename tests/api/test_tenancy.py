"""Another company's resources answer 404 on every route that names one, and nothing is written."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi.testclient import TestClient

from api.permissions import allowed
from domain.ids import contact_id_for
from tests.api.scenario import accepted_interaction, bearer, company, ok, post_email

ID = "00000000-0000-0000-0000-000000000000"
# One valid body per route: a route that names a resource and has no case here fails the test.
CASES: dict[tuple[str, str], Any] = {
    ("GET", "/v1/companies/{company_id}"): None,
    ("POST", "/v1/companies/{company_id}/users"): {
        "name": "X",
        "email": "x@x.test",
        "role": "agent",
    },
    ("GET", "/v1/companies/{company_id}/users"): None,
    ("GET", "/v1/companies/{company_id}/users/{user_id}"): None,
    ("PATCH", "/v1/companies/{company_id}/users/{user_id}"): {"role": "admin", "capacity": 9},
    ("POST", "/v1/companies/{company_id}/users/{user_id}/tokens"): {"label": "x"},
    ("GET", "/v1/companies/{company_id}/users/{user_id}/tokens"): None,
    ("DELETE", "/v1/companies/{company_id}/users/{user_id}/tokens/{token_id}"): None,
    ("POST", "/v1/companies/{company_id}/queues"): {"name": "Q"},
    ("GET", "/v1/companies/{company_id}/mailboxes"): None,
    ("GET", "/v1/companies/{company_id}/mailboxes/{mailbox_id}"): None,
    ("PUT", "/v1/companies/{company_id}/mailboxes/{mailbox_id}"): {
        "address": "x@x.test",
        "default_queue_id": ID,
    },
    ("DELETE", "/v1/companies/{company_id}/mailboxes/{mailbox_id}"): None,
    ("POST", "/v1/companies/{company_id}/mailboxes"): {
        "address": "x@x.test",
        "default_queue_id": ID,
    },
    ("PUT", "/v1/companies/{company_id}/routing-rules"): {"rules": []},
    ("PUT", "/v1/companies/{company_id}/open-limit"): {"open_limit": 3},
    ("PUT", "/v1/companies/{company_id}/dispositions"): {"tree": []},
    ("PUT", "/v1/companies/{company_id}/substatuses"): {"substatuses": ["Waiting"]},
    ("GET", "/v1/companies/{company_id}/limits"): None,
    ("POST", "/v1/companies/{company_id}/inbound"): b"raw",
    ("POST", "/v1/companies/{company_id}/outbound"): {
        "mailbox_id": ID,
        "queue_id": ID,
        "to": ["c@c.test"],
        "subject": "s",
        "body_text": "b",
    },
    ("GET", "/v1/agents/{agent_id}"): None,
    ("GET", "/v1/agents/{agent_id}/inbox"): None,
    **{
        ("POST", f"/v1/agents/{{agent_id}}/{c}"): None
        for c in ("login", "logout", "pause", "unpause", "call-started", "call-ended")
    },
    ("GET", "/v1/interactions/{interaction_id}"): None,
    ("GET", "/v1/interactions/{interaction_id}/timeline"): None,
    ("GET", "/v1/interactions/{interaction_id}/messages"): None,
    ("GET", "/v1/interactions/{interaction_id}/transcript"): None,
    ("GET", "/v1/interactions/{interaction_id}/transcript.zip"): None,
    **{
        ("POST", f"/v1/interactions/{{interaction_id}}/{c}"): None
        for c in (
            "accept",
            "reject",
            "park",
            "resume",
            "return",
            "mark-unread",
            "mark-read",
            "reopen",
        )
    },
    ("POST", "/v1/interactions/{interaction_id}/reply"): {"body_text": "hi"},
    ("POST", "/v1/interactions/{interaction_id}/forward"): {"to": ["x@x.test"]},
    ("POST", "/v1/interactions/{interaction_id}/transfer"): {"to_queue_id": ID},
    ("POST", "/v1/interactions/{interaction_id}/notes"): {"text": "n"},
    ("PUT", "/v1/interactions/{interaction_id}/draft"): {"body_text": "d"},
    ("DELETE", "/v1/interactions/{interaction_id}/draft"): None,
    ("POST", "/v1/interactions/{interaction_id}/substatus"): {"substatus": "Pending"},
    ("POST", "/v1/interactions/{interaction_id}/tags"): {"add": ["t"]},
    ("POST", "/v1/interactions/{interaction_id}/close"): {"disposition": []},
    ("GET", "/v1/queues/{queue_id}/waiting"): None,
    ("GET", "/v1/companies/{company_id}/distribution"): None,
    ("PUT", "/v1/companies/{company_id}/distribution"): {},
    ("GET", "/v1/queues/{queue_id}/agents"): None,
    ("GET", "/v1/agents/{agent_id}/events"): None,
    ("GET", "/v1/queues/{queue_id}/events"): None,
    ("GET", "/v1/messages/{message_id}/raw"): None,
    ("GET", "/v1/companies/{company_id}/quarantine"): None,
    ("GET", "/v1/companies/{company_id}/audit-log"): None,
    **{
        ("GET", f"/v1/companies/{{company_id}}/reports/{report}"): None
        for report in ("queues", "agents", "backlog", "limit-history")
    },
    ("GET", "/v1/companies/{company_id}/quarantine/{quarantine_id}/raw"): None,
    ("POST", "/v1/companies/{company_id}/quarantine/{quarantine_id}/retry"): None,
    ("GET", "/v1/interactions/{interaction_id}/attachments/{blob}"): None,
    ("GET", "/v1/contacts/{contact_id}"): None,
    ("PATCH", "/v1/contacts/{contact_id}"): {"name": "X"},
    ("GET", "/v1/contacts/{contact_id}/journey"): None,
}


def routes_naming_a_resource(client: TestClient) -> set[tuple[str, str]]:
    """Every operation of the app (read from its OpenAPI document) whose path has an id."""
    paths = client.app.openapi()["paths"]  # type: ignore[attr-defined]
    return {
        (method.upper(), path)
        for path, operations in paths.items()
        if "{" in path
        for method in operations
    }


def test_every_route_that_names_a_resource_has_a_tenancy_case(client: TestClient) -> None:
    assert routes_naming_a_resource(client) == set(CASES)


def test_company_b_gets_404_on_every_resource_of_company_a(client: TestClient) -> None:
    acme = company(client, "Acme")
    other = company(client, "Other", domain="other.test")
    interaction_id = accepted_interaction(client, acme)
    thread = ok(client.get(f"/v1/interactions/{interaction_id}/messages", headers=acme.token("A")))
    ids = {
        "company_id": acme.id,
        "interaction_id": interaction_id,
        "agent_id": acme.agent_id("A"),
        "queue_id": acme.queues["General"],
        "message_id": thread["items"][0]["id"],
        "mailbox_id": acme.mailbox_id,
        "quarantine_id": post_email(client, acme, b"no sender\r\n", 422)["quarantine_id"],
        "blob": "0" * 64,
        "contact_id": str(contact_id_for(UUID(acme.id), "carol@customer.test")),
        "user_id": acme.agent_id("A"),
        "token_id": ok(
            client.post(
                f"/v1/companies/{acme.id}/users/{acme.agent_id('A')}/tokens",
                headers=bearer(acme.admin),
            ),
            201,
        )["id"],
    }
    before = ok(client.get(f"/v1/interactions/{interaction_id}", headers=acme.token("A")))
    for (method, path), body in sorted(CASES.items()):
        url = path.format(**ids)
        roles = {"admin": other.admin, "supervisor": other.agents["supervisor"][1]}
        for role, token in {**roles, "agent": other.agents["A"][1]}.items():
            kwargs: dict[str, Any] = {"headers": bearer(token)}
            if isinstance(body, bytes):
                kwargs["content"] = body
                kwargs["headers"]["Content-Type"] = "message/rfc822"
            elif body is not None:
                kwargs["json"] = body
            response = client.request(method, url, **kwargs)
            # a role the permission table refuses gets the same 403 for every id, so learns nothing
            expected = 404 if allowed(method, path, role) else 403
            assert response.status_code == expected, (method, path, role, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            assert acme.id not in response.text or path.startswith("/v1/companies")
            assert "Carol" not in response.text
            assert "Invoice" not in response.text
    after = ok(client.get(f"/v1/interactions/{interaction_id}", headers=acme.token("A")))
    assert after["version"] == before["version"]


def test_requests_without_a_valid_token_get_401(client: TestClient) -> None:
    acme = company(client)
    for headers in ({}, {"Authorization": "Basic abc"}, bearer("ifx_unknown")):
        response = client.get(f"/v1/companies/{acme.id}", headers=headers)
        assert response.status_code == 401
        assert response.json()["type"] in ("/problems/unauthenticated", "/problems/invalid-token")
