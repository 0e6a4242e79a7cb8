"""Access profiles: an agent or supervisor restricted to General never sees, reads, streams
or acts on a Billing interaction that is not theirs; admins see everything.

The world: queues General and Billing; agent A (member of General only) and supervisor Sue
restricted to General; `hidden` waits in Billing, `seen` waits in General, and `assigned` is
in Billing but owned by A (transferred to A before A's profile was set).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

import pytest
from fastapi.testclient import TestClient

from domain.ids import contact_id_for
from tests.api.scenario import (
    Company,
    bearer,
    company,
    ok,
    post_email,
    raw_email,
    received_interaction,
)
from tests.api.test_tenancy import CASES

RESTRICTED = ("A", "supervisor")
WORD = "zebracorn"  # in the subjects of `hidden` and `seen`, for the text searches


def ids_of(page: dict[str, Any]) -> set[str]:
    return {item.get("interaction_id") or item["id"] for item in page["items"]}


@dataclass
class World:
    client: TestClient
    acme: Company
    hidden: str
    seen: str
    assigned: str
    assigned_message_id: str

    def head(self) -> int:
        services = self.client.app.state.services  # type: ignore[attr-defined]
        return int(services.app.recorder.max_notification_id() or 0)

    def get(self, who: str, url: str, **params: Any) -> Any:
        return self.client.get(url, headers=self.token(who), params=params)

    def read(self, who: str, url: str, **params: Any) -> Any:
        return ok(self.get(who, url, min_position=self.head(), **params))

    def token(self, who: str) -> dict[str, str]:
        return bearer(self.acme.admin) if who == "admin" else self.acme.token(who)

    def ids(self, who: str, url: str, **params: Any) -> set[str]:
        return ids_of(self.read(who, url, **params))

    def post(self, who: str, url: str, body: Any = None) -> Any:
        return self.client.post(url, headers=self.token(who), json=body)

    def restrict(self, who: str, **change: Any) -> None:
        url = f"/v1/companies/{self.acme.id}/users/{self.acme.agent_id(who)}"
        body = {"visible_queues": [self.acme.queues["General"]], **change}
        ok(self.client.patch(url, headers=bearer(self.acme.admin), json=body))


@pytest.fixture
def world(client: TestClient) -> World:
    acme = company(client)
    rules = [
        {
            "id": "refunds",
            "queue_id": acme.queues["Billing"],
            "conditions": [{"field": "subject", "op": "contains", "value": "refund"}],
        }
    ]
    url = f"/v1/companies/{acme.id}/routing-rules"
    ok(client.put(url, headers=bearer(acme.admin), json={"rules": rules}))
    message_id = f"<{uuid4().hex}@customer.test>"
    w = World(
        client,
        acme,
        hidden=received_interaction(client, acme, subject=f"Refund {WORD} order 7"),
        seen=received_interaction(client, acme, subject=f"Question on {WORD} order 8"),
        assigned=received_interaction(
            client, acme, subject="Refund for a broken kettle", message_id=message_id
        ),
        assigned_message_id=message_id,
    )
    transfer = {"to_agent_id": acme.agent_id("A")}
    ok(w.post("admin", f"/v1/interactions/{w.assigned}/transfer", transfer))
    w.restrict("A", queues=[acme.queues["General"]])
    w.restrict("supervisor")
    return w


def test_hidden_interactions_never_appear_in_lists_searches_inboxes_or_reports(
    world: World,
) -> None:
    w, acme = world, world.acme
    search = {"conditions": [{"field": "subject", "op": "contains", "value": WORD}]}
    for who in RESTRICTED:
        assert w.hidden not in w.ids(who, "/v1/interactions")
        assert w.ids(who, "/v1/interactions", q=WORD) == {w.seen}
        found = ok(w.post(who, f"/v1/interactions/search?min_position={w.head()}", search))
        assert ids_of(found) == {w.seen}
        carol = contact_id_for(UUID(acme.id), "carol@customer.test")
        journey = w.ids(who, f"/v1/contacts/{carol}/journey")
        assert w.seen in journey
        assert w.hidden not in journey
        assert w.seen in w.ids(who, f"/v1/queues/{acme.queues['General']}/waiting")
        hidden_queue = w.get(who, f"/v1/queues/{acme.queues['Billing']}/waiting")
        assert (hidden_queue.status_code, hidden_queue.json()["type"]) == (
            404,
            "/problems/queue-not-found",
        )
    assert w.ids("admin", "/v1/interactions", q=WORD) == {w.seen, w.hidden}

    inbox = f"/v1/agents/{acme.agent_id('A')}/inbox"
    assert w.ids("A", inbox) == w.ids("admin", inbox) == {w.assigned}  # theirs, and all
    assert w.ids("supervisor", inbox) == set()  # Sue may not see Billing
    agent = f"/v1/agents/{acme.agent_id('A')}"
    assert ok(w.get("admin", agent))["held"] == [w.assigned]
    assert ok(w.get("supervisor", agent))["held"] == []

    billing, general = acme.queues["Billing"], acme.queues["General"]
    reports = f"/v1/companies/{acme.id}/reports"
    for report in ("queues", "backlog"):
        shown = {row["queue_id"] for row in w.read("supervisor", f"{reports}/{report}")["rows"]}
        assert shown == {general}
        assert billing in {
            row["queue_id"] for row in w.read("admin", f"{reports}/{report}")["rows"]
        }


def interaction_routes(client: TestClient) -> list[tuple[str, str]]:
    """Every operation on one interaction, and the raw download of one of its emails."""
    paths = client.app.openapi()["paths"]  # type: ignore[attr-defined]
    found = [
        (method.upper(), path)
        for path, operations in paths.items()
        if "{interaction_id}" in path or path == "/v1/messages/{message_id}/raw"
        for method in operations
    ]
    return sorted(found)


@pytest.mark.parametrize("who", RESTRICTED)
def test_every_route_on_a_hidden_interaction_answers_as_for_an_unknown_one(
    world: World, who: str
) -> None:
    w = world
    thread = ok(w.get("admin", f"/v1/interactions/{w.hidden}/messages"))
    hidden_ids = {"interaction_id": w.hidden, "message_id": thread["items"][0]["id"]}
    unknown_ids = {"interaction_id": str(uuid4()), "message_id": str(uuid4())}
    before = w.head()
    routes = interaction_routes(w.client)
    assert len(routes) > 20
    for method, path in routes:
        assert (method, path) in CASES, f"{method} {path}: add a body to test_tenancy.CASES"
        answers = []
        for ids in (hidden_ids, unknown_ids):
            url = path.format(blob="0" * 64, **ids)
            response = w.client.request(
                method, url, headers=w.token(who), json=CASES[(method, path)]
            )
            assert response.status_code == 404, (method, path, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            assert "kettle" not in response.text
            assert WORD not in response.text
            answers.append(response.json()["type"])
        assert answers[0] == answers[1], (method, path)
    assert w.head() == before  # nothing was appended


def test_the_assigned_interaction_is_readable_and_workable_by_its_owner_only(
    world: World,
) -> None:
    w, url = world, f"/v1/interactions/{world.assigned}"
    for suffix in ("", "/timeline", "/messages", "/transcript"):
        assert w.get("A", url + suffix).status_code == 200, suffix
        assert w.get("supervisor", url + suffix).status_code == 404, suffix
    assert ok(w.post("A", f"{url}/resume"))["status"] == "active"
    ok(w.post("A", f"{url}/notes", {"text": "calling the customer"}))
    into_billing = w.post("A", f"{url}/transfer", {"to_queue_id": w.acme.queues["Billing"]})
    assert (into_billing.status_code, into_billing.json()["type"]) == (
        404,
        "/problems/queue-not-found",
    )
    moved = ok(w.post("A", f"{url}/transfer", {"to_queue_id": w.acme.queues["General"]}))
    assert (moved["queue_id"], moved["owner"]) == (w.acme.queues["General"], None)
    assert w.get("supervisor", url).status_code == 200  # now in a queue Sue sees


def test_a_transfer_to_an_agent_who_cannot_see_the_queue_is_refused(world: World) -> None:
    w, to_a = world, {"to_agent_id": world.acme.agent_id("A")}
    before = w.head()
    refused = w.post("admin", f"/v1/interactions/{w.hidden}/transfer", to_a)
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"] == "/problems/queue-hidden-from-agent"
    assert w.head() == before
    ok(w.post("admin", f"/v1/interactions/{w.seen}/transfer", to_a))
    to_billing = {"to_queue_id": w.acme.queues["Billing"]}
    sue = w.post("supervisor", f"/v1/interactions/{w.seen}/transfer", to_billing)
    assert (sue.status_code, sue.json()["type"]) == (404, "/problems/queue-not-found")
    ok(w.post("admin", f"/v1/interactions/{w.seen}/transfer", to_billing))


def test_admins_see_everything_even_with_a_profile(world: World) -> None:
    w, acme = world, world.acme
    root = ok(
        w.client.post(
            f"/v1/companies/{acme.id}/users",
            headers=bearer(acme.admin),
            json={"name": "Root", "email": "root@acme.test", "role": "admin"},
        ),
        201,
    )
    acme.agents["root"] = (root["id"], root["token"])
    w.restrict("root")
    for interaction_id in (w.hidden, w.assigned):
        assert w.get("root", f"/v1/interactions/{interaction_id}").status_code == 200
        assert w.get("admin", f"/v1/interactions/{interaction_id}/timeline").status_code == 200
    assert w.get("root", f"/v1/queues/{acme.queues['Billing']}/waiting").status_code == 200


class EventStream:
    """A server-sent event stream read in a thread through the test client."""

    def __init__(self, client: TestClient, path: str, headers: dict[str, str]) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self._ready, self._stop = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._read, args=(client, path, headers))
        self._thread.start()
        assert self._ready.wait(10), f"{path} never became ready"

    def _read(self, client: TestClient, path: str, headers: dict[str, str]) -> None:
        kind = ""
        with client.stream("GET", path, headers=headers) as response:
            for line in response.iter_lines():  # keep-alives come every heartbeat
                if self._stop.is_set():
                    return
                if line.startswith("event: "):
                    kind = line.removeprefix("event: ")
                elif line.startswith("data: "):
                    self.events.append((kind, json.loads(line.removeprefix("data: "))))
                    self._ready.set()

    def about(self) -> set[tuple[str, str]]:
        return {(kind, data.get("interaction_id", "")) for kind, data in self.events}

    def wait_for(self, kind: str, interaction_id: str, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while (kind, interaction_id) not in self.about():
            assert time.monotonic() < deadline, f"no {kind} for {interaction_id}: {self.events}"
            time.sleep(0.01)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)


def test_event_streams_carry_no_hidden_queue_events(world: World) -> None:
    w, acme = world, world.acme
    w.client.app.state.distribution.heartbeat = 0.2  # type: ignore[attr-defined]
    billing = w.get("supervisor", f"/v1/queues/{acme.queues['Billing']}/events")
    assert (billing.status_code, billing.json()["type"]) == (404, "/problems/queue-not-found")
    path = f"/v1/agents/{acme.agent_id('A')}/events"
    streams = {
        who: EventStream(w.client, path, w.token(who)) for who in ("A", "supervisor", "admin")
    }
    try:
        reply = raw_email(
            subject="Re: Refund for a broken kettle", in_reply_to=w.assigned_message_id
        )
        post_email(w.client, acme, reply, 200)  # the customer writes again: A is told
        ok(
            w.post(
                "admin", f"/v1/interactions/{w.seen}/transfer", {"to_agent_id": acme.agent_id("A")}
            )
        )
        for stream in streams.values():  # published after the Billing message, so behind it
            stream.wait_for("transferred", w.seen)
        for who in ("A", "admin"):
            streams[who].wait_for("message_received", w.assigned)
        assert ("message_received", w.assigned) not in streams["supervisor"].about()
        assert not {d.get("queue_id") for _, d in streams["supervisor"].events} - {
            None,
            acme.queues["General"],
        }
    finally:
        for stream in streams.values():
            stream.close()
