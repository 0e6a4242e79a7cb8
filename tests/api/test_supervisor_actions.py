"""Supervisors act on what agents hold: transfer or return a parked email, reopen it into its
queue, and leave a note for one agent only."""

from __future__ import annotations

import time
from typing import Any
from uuid import UUID, uuid4

from fastapi.testclient import TestClient

from adapters.notifier import Note
from tests.api.scenario import Company, accepted_interaction, bearer, company, ok
from tests.fakes import FixedClock


def command(client: TestClient, iid: str, name: str, token: dict[str, str], **body: Any) -> Any:
    return client.post(f"/v1/interactions/{iid}/{name}", headers=token, json=body or None)


def parked_interaction(client: TestClient, acme: Company, agent: str = "A") -> str:
    iid = accepted_interaction(client, acme, agent)
    ok(command(client, iid, "park", acme.token(agent)))
    return iid


def refused(response: Any, status: int, kind: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == f"/problems/{kind}"


def test_a_supervisor_transfers_a_parked_email_to_an_agent_then_to_a_queue(
    client: TestClient,
) -> None:
    acme = company(client)
    sue = acme.token("supervisor")
    iid = parked_interaction(client, acme)

    moved = ok(command(client, iid, "transfer", sue, to_agent_id=acme.agent_id("B")))
    assert (moved["status"], moved["owner"]) == ("parked", acme.agent_id("B"))
    queued = ok(command(client, iid, "transfer", sue, to_queue_id=acme.queues["Billing"]))
    assert (queued["status"], queued["owner"], queued["queue_id"]) == (
        "queued",
        None,
        acme.queues["Billing"],
    )
    held_by_a = ok(client.get(f"/v1/agents/{acme.agent_id('A')}", headers=sue))["held"]
    assert iid not in held_by_a


def test_a_supervisor_returns_a_parked_email_to_its_queue(client: TestClient) -> None:
    acme = company(client)
    iid = parked_interaction(client, acme)

    returned = ok(command(client, iid, "return", acme.token("supervisor")))
    assert (returned["status"], returned["owner"], returned["queue_id"]) == (
        "queued",
        None,
        acme.queues["General"],
    )
    entries = ok(
        client.get(
            f"/v1/interactions/{iid}/timeline",
            params={"min_position": returned["position"]},
            headers=acme.token("A"),
        )
    )
    returned_entry = entries["entries"][-1]
    assert returned_entry["type"] == "returned_to_queue"
    assert returned_entry["actor"] == f"supervisor:{acme.agent_id('supervisor')}"


def test_an_agent_who_does_not_own_a_parked_email_may_not_move_it(client: TestClient) -> None:
    acme = company(client)
    b = acme.token("B")
    iid = parked_interaction(client, acme)
    before = ok(client.get(f"/v1/interactions/{iid}", headers=b))

    refused(command(client, iid, "transfer", b, to_agent_id=acme.agent_id("B")), 409, "not-owner")
    refused(
        command(client, iid, "transfer", b, to_queue_id=acme.queues["Billing"]), 409, "not-owner"
    )
    refused(command(client, iid, "return", b), 409, "not-owner")
    after = ok(client.get(f"/v1/interactions/{iid}", headers=b))
    assert (after["version"], after["owner"]) == (before["version"], acme.agent_id("A"))


def test_no_one_transfers_to_an_agent_who_cannot_see_the_queue(
    client: TestClient, clock: FixedClock
) -> None:
    acme = company(client)
    billing_only = ok(
        client.post(
            f"/v1/companies/{acme.id}/users",
            headers=bearer(acme.admin),
            json={
                "name": "Cy",
                "email": "cy@acme.test",
                "role": "agent",
                "queues": [acme.queues["Billing"]],
            },
        ),
        201,
    )["id"]
    services = client.app.state.services  # type: ignore[attr-defined]
    agent = services.app.agent(UUID(billing_only))
    agent.set_access_profile([UUID(acme.queues["Billing"])], actor="admin", at=clock.now)
    services.app.save(agent)
    iid = parked_interaction(client, acme)

    response = command(client, iid, "transfer", acme.token("supervisor"), to_agent_id=billing_only)
    refused(response, 409, "queue-hidden-from-agent")
    assert "cannot see the queue" in response.json()["detail"]


def test_a_supervisor_reopens_into_the_queue_unassigned_and_unread(client: TestClient) -> None:
    acme = company(client)
    for reopener in ("supervisor", "admin"):
        iid = accepted_interaction(client, acme)
        ok(command(client, iid, "close", acme.token("A"), disposition=[]))
        token = bearer(acme.admin) if reopener == "admin" else acme.token(reopener)

        reopened = ok(command(client, iid, "reopen", token))
        assert (reopened["status"], reopened["owner"], reopened["unread"]) == (
            "queued",
            None,
            True,
        )
        assert reopened["queue_id"] == acme.queues["General"]
        waiting = ok(
            client.get(
                f"/v1/queues/{acme.queues['General']}/waiting",
                params={"min_position": reopened["position"]},
                headers=token,
            )
        )
        assert iid in [item["interaction_id"] for item in waiting["items"]]


def test_an_agent_reopens_into_their_own_hands(client: TestClient) -> None:
    acme = company(client)
    iid = accepted_interaction(client, acme, "A")
    ok(command(client, iid, "close", acme.token("A"), disposition=[]))

    reopened = ok(command(client, iid, "reopen", acme.token("B")))
    assert (reopened["status"], reopened["owner"], reopened["last_agent"]) == (
        "active",
        acme.agent_id("B"),
        acme.agent_id("A"),
    )
    agent = ok(client.get(f"/v1/agents/{acme.agent_id('B')}", headers=acme.token("B")))
    assert agent["active"] == iid


def test_only_supervisors_and_admins_address_a_note_to_one_agent(client: TestClient) -> None:
    acme = company(client)
    other = company(client, "Other", domain="other.test")
    iid = accepted_interaction(client, acme)
    a_only = {"text": "For you, A", "for_agent_id": acme.agent_id("A")}

    for agent in ("A", "B"):
        response = command(client, iid, "notes", acme.token(agent), **a_only)
        refused(response, 409, "note-addressing-refused")
        assert "only supervisors and admins" in response.json()["detail"]
    for stranger in (other.agent_id("A"), str(uuid4())):
        response = command(
            client, iid, "notes", acme.token("supervisor"), text="x", for_agent_id=stranger
        )
        refused(response, 404, "agent-not-found")
    ok(command(client, iid, "notes", acme.token("supervisor"), **a_only))
    ok(command(client, iid, "notes", bearer(acme.admin), **a_only))
    thread = ok(client.get(f"/v1/interactions/{iid}/messages", headers=acme.token("A")))["items"]
    notes = [(i["text"], i["for_agent_id"]) for i in thread if i["kind"] == "note"]
    assert notes == [("For you, A", acme.agent_id("A"))] * 2


def test_the_addressed_agent_is_told_of_a_note_for_them(client: TestClient) -> None:
    acme = company(client)
    iid = accepted_interaction(client, acme)
    told: list[Note] = []
    services = client.app.state.services  # type: ignore[attr-defined]
    services.distribution.notifications.publisher = told.extend

    a_only = {"text": "For you, A", "for_agent_id": acme.agent_id("A")}
    ok(command(client, iid, "notes", acme.token("supervisor"), text="For everyone"))
    ok(command(client, iid, "notes", acme.token("supervisor"), **a_only))
    deadline = time.monotonic() + 5
    while not any(n.type == "note_for_you" for n in told) and time.monotonic() < deadline:
        time.sleep(0.02)

    [note] = [n for n in told if n.type == "note_for_you"]
    assert note.agent_ids == (UUID(acme.agent_id("A")),)
    assert note.data["interaction_id"] == iid
    assert "For you" not in str(note.message())  # the text stays in the thread
