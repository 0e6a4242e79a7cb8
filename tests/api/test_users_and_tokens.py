"""Admins manage the company's users; every user manages their own bearer tokens."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any
from uuid import uuid4

from fastapi.testclient import TestClient

from tests.api.conftest import OPERATOR_TOKEN
from tests.api.scenario import Company, bearer, company, ok
from tests.fakes import FixedClock


def users(acme: Company, user_id: str = "") -> str:
    return f"/v1/companies/{acme.id}/users" + (f"/{user_id}" if user_id else "")


def problem_type(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return str(response.json()["type"])


def patch(client: TestClient, acme: Company, user_id: str, body: dict[str, Any]) -> Any:
    return client.patch(users(acme, user_id), headers=bearer(acme.admin), json=body)


def issue(client: TestClient, acme: Company, user_id: str, token: str, **body: Any) -> Any:
    return ok(client.post(f"{users(acme, user_id)}/tokens", headers=bearer(token), json=body), 201)


def tokens(client: TestClient, acme: Company, user_id: str, token: str, position: int) -> Any:
    url = f"{users(acme, user_id)}/tokens?min_position={position}"
    return ok(client.get(url, headers=bearer(token)))["items"]


def test_admins_list_the_companys_users_by_name(client: TestClient) -> None:
    acme = company(client)
    zed = ok(
        client.post(
            users(acme),
            headers=bearer(acme.admin),
            json={"name": "Zed", "email": "zed@acme.test", "role": "supervisor", "capacity": 4},
        ),
        201,
    )
    url = f"{users(acme)}?min_position={zed['position']}"
    listed = ok(client.get(url, headers=bearer(acme.admin)))

    assert listed["truncated"] is False
    assert [(u["name"], u["role"]) for u in listed["items"]] == [
        ("A", "agent"),
        ("Ada", "admin"),
        ("B", "agent"),
        ("Sue", "supervisor"),
        ("Zed", "supervisor"),
    ]
    a = listed["items"][0]
    assert (a["id"], a["email"], a["capacity"]) == (acme.agent_id("A"), "a@acme.test", 3)
    assert (sorted(a["queues"]), a["visible_queues"]) == (sorted(acme.queues.values()), None)
    assert listed["items"][4]["registered_at"] == "2026-03-02T09:00:00Z"
    forbidden = client.get(users(acme), headers=acme.token("supervisor"))
    assert problem_type(forbidden, 403) == "/problems/forbidden"


def test_an_admin_changes_role_queues_visible_queues_and_capacity(client: TestClient) -> None:
    acme = company(client)
    a = acme.agent_id("A")
    limits = f"/v1/companies/{acme.id}/limits"
    assert client.get(limits, headers=acme.token("A")).status_code == 403

    body = {
        "role": "supervisor",
        "queues": [acme.queues["General"]],
        "visible_queues": [acme.queues["Billing"]],
        "capacity": 5,
    }
    changed = ok(patch(client, acme, a, body))

    assert (changed["role"], changed["queues"], changed["capacity"]) == (
        "supervisor",
        [acme.queues["General"]],
        5,
    )
    assert changed["visible_queues"] == [acme.queues["Billing"]]
    assert ok(client.get(users(acme, a), headers=bearer(acme.admin))) == {**changed, "position": 0}
    listed = ok(
        client.get(f"{users(acme)}?min_position={changed['position']}", headers=bearer(acme.admin))
    )
    row = next(u for u in listed["items"] if u["id"] == a)
    assert (row["role"], row["queues"], row["visible_queues"], row["capacity"]) == (
        "supervisor",
        [acme.queues["General"]],
        [acme.queues["Billing"]],
        5,
    )
    assert ok(client.get(limits, headers=acme.token("A")))["open_limit"] == 100  # same token

    everything = ok(patch(client, acme, a, {"visible_queues": None}))
    assert (everything["visible_queues"], everything["role"]) == (None, "supervisor")
    unchanged = ok(patch(client, acme, a, {}))
    assert unchanged == {**everything, "position": unchanged["position"]}


def test_queues_of_another_company_are_refused_and_nothing_changes(client: TestClient) -> None:
    acme, other = company(client), company(client, "Other", domain="other.test")
    a = acme.agent_id("A")
    before = ok(client.get(users(acme, a), headers=bearer(acme.admin)))
    foreign = other.queues["General"]

    for body in (
        {"queues": [foreign], "capacity": 9},
        {"visible_queues": [acme.queues["General"], str(uuid4())], "role": "supervisor"},
    ):
        assert problem_type(patch(client, acme, a, body), 422) == "/problems/unknown-queue"
    for body in ({"role": None}, {"capacity": None}, {"nickname": "x"}, {"role": "owner"}):
        assert problem_type(patch(client, acme, a, body), 422) == "/problems/validation-error"
    new_user = {"name": "N", "email": "n@acme.test", "role": "agent", "queues": [foreign]}
    refused = client.post(users(acme), headers=bearer(acme.admin), json=new_user)
    assert problem_type(refused, 422) == "/problems/unknown-queue"
    assert ok(client.get(users(acme, a), headers=bearer(acme.admin))) == before
    missing = patch(client, acme, str(uuid4()), {"capacity": 2})
    assert problem_type(missing, 404) == "/problems/agent-not-found"


def test_the_last_admin_of_a_company_cannot_be_demoted(client: TestClient) -> None:
    acme = company(client)
    head = client.app.state.services.app.recorder.max_notification_id()  # type: ignore[attr-defined]
    listed = ok(client.get(f"{users(acme)}?min_position={head}", headers=bearer(acme.admin)))
    ada = next(u["id"] for u in listed["items"] if u["name"] == "Ada")
    assert problem_type(patch(client, acme, ada, {"role": "agent"}), 409) == "/problems/last-admin"

    bea = ok(
        client.post(
            users(acme),
            headers=bearer(acme.admin),
            json={"name": "Bea", "email": "bea@acme.test", "role": "admin"},
        ),
        201,
    )
    ok(client.get(f"{users(acme)}?min_position={bea['position']}", headers=bearer(acme.admin)))
    ok(patch(client, acme, bea["id"], {"role": "supervisor"}))
    # at once, without waiting for the user list: the aggregates decide, not the list
    assert problem_type(patch(client, acme, ada, {"role": "agent"}), 409) == "/problems/last-admin"

    b = acme.agent_id("B")
    promoted = ok(patch(client, acme, b, {"role": "admin"}))
    ok(client.get(f"{users(acme)}?min_position={promoted['position']}", headers=bearer(acme.admin)))
    assert ok(patch(client, acme, ada, {"role": "agent"}))["role"] == "agent"
    assert problem_type(client.get(users(acme), headers=bearer(acme.admin)), 403) == (
        "/problems/forbidden"
    )
    refused = client.patch(users(acme, b), headers=acme.token("B"), json={"role": "agent"})
    assert problem_type(refused, 409) == "/problems/last-admin"


def test_a_user_issues_lists_and_revokes_their_own_tokens(client: TestClient) -> None:
    acme = company(client)
    a, b, token_a = acme.agent_id("A"), acme.agent_id("B"), acme.agents["A"][1]
    laptop = issue(client, acme, a, token_a, label="laptop")

    assert laptop["token"].startswith("ifx_")
    assert len(laptop["token"]) > 40
    assert (laptop["label"], laptop["expires_at"]) == ("laptop", None)
    assert laptop["created_at"] == "2026-03-02T09:00:00Z"
    assert ok(client.get(f"/v1/agents/{a}", headers=bearer(laptop["token"])))["id"] == a
    listed = client.get(
        f"{users(acme, a)}/tokens?min_position={laptop['position']}", headers=bearer(token_a)
    )
    assert [t["label"] for t in ok(listed)["items"]] == ["laptop", None]  # newest first
    assert set(ok(listed)["items"][0]) == {"id", "label", "created_at", "expires_at", "revoked_at"}
    for secret in (laptop["token"], token_a):
        assert secret not in listed.text
        assert hashlib.sha256(secret.encode()).hexdigest() not in listed.text

    for method in ("GET", "POST"):
        other = client.request(method, f"{users(acme, b)}/tokens", headers=bearer(token_a))
        assert problem_type(other, 403) == "/problems/own-tokens-only"
    url = f"{users(acme, a)}/tokens/{laptop['id']}"
    elsewhere = client.delete(f"{users(acme, b)}/tokens/{laptop['id']}", headers=bearer(acme.admin))
    assert problem_type(elsewhere, 404) == "/problems/token-not-found"
    assert client.delete(url, headers=bearer(token_a)).status_code == 204
    denied = client.get(f"/v1/agents/{a}", headers=bearer(laptop["token"]))
    assert problem_type(denied, 401) == "/problems/invalid-token"
    assert client.delete(url, headers=bearer(token_a)).status_code == 204  # idempotent
    unknown = client.delete(f"{users(acme, a)}/tokens/{uuid4()}", headers=bearer(token_a))
    assert problem_type(unknown, 404) == "/problems/token-not-found"

    position = issue(client, acme, a, token_a)["position"]
    rows = tokens(client, acme, a, token_a, position)
    assert [(t["label"], t["revoked_at"] is None) for t in rows] == [
        (None, True),
        ("laptop", False),
        (None, True),
    ]


def test_admins_issue_expiring_tokens_for_anyone_and_expired_ones_stop_working(
    client: TestClient, clock: FixedClock
) -> None:
    acme = company(client)
    a, sue = acme.agent_id("A"), acme.agent_id("supervisor")
    expires = (clock.now + timedelta(hours=1)).isoformat()
    shift = issue(client, acme, a, acme.admin, label="shift", expires_at=expires)
    assert shift["expires_at"] == "2026-03-02T10:00:00Z"
    assert ok(client.get(f"/v1/agents/{a}", headers=bearer(shift["token"])))["id"] == a
    own = issue(client, acme, sue, acme.agents["supervisor"][1])
    assert tokens(client, acme, sue, acme.admin, own["position"])[0]["id"] == own["id"]

    past = client.post(
        f"{users(acme, a)}/tokens",
        headers=bearer(acme.admin),
        json={"expires_at": (clock.now - timedelta(seconds=1)).isoformat()},
    )
    assert problem_type(past, 422) == "/problems/invalid-input"
    naive = client.post(
        f"{users(acme, a)}/tokens",
        headers=bearer(acme.admin),
        json={"expires_at": "2030-01-01T00:00:00"},
    )
    assert problem_type(naive, 422) == "/problems/validation-error"
    operator = client.post(f"{users(acme, a)}/tokens", headers=bearer(OPERATOR_TOKEN))
    assert problem_type(operator, 403) == "/problems/forbidden"

    clock.advance(hours=1)
    expired = client.get(f"/v1/agents/{a}", headers=bearer(shift["token"]))
    assert problem_type(expired, 401) == "/problems/invalid-token"
    assert ok(client.get(f"/v1/agents/{a}", headers=acme.token("A")))["id"] == a
