"""A company whose interactions sit in every state the lists filter on, built through the API."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from fastapi.testclient import TestClient

from tests.api.scenario import Company, bearer, company, ok, post_email, raw_email
from tests.fakes import FixedClock

NAMES = ("queued", "active", "parked", "closed", "unmanaged", "billing", "offered")


@dataclass
class SearchWorld:
    """Interactions by name; `position` is the last write, for read-your-writes."""

    client: TestClient
    clock: FixedClock
    acme: Company
    ids: dict[str, str] = field(default_factory=dict)
    position: int = 0

    def names(self, rows: list[dict[str, Any]]) -> list[str]:
        by_id = {value: name for name, value in self.ids.items()}
        return [by_id.get(row["interaction_id"], row["interaction_id"]) for row in rows]

    def page(self, who: str = "admin", **params: Any) -> Any:
        headers = bearer(self.acme.admin) if who == "admin" else self.acme.token(who)
        query = {"min_position": self.position, **params}
        return self.client.get("/v1/interactions", params=query, headers=headers)

    def listed(self, who: str = "admin", **params: Any) -> set[str]:
        return set(self.names(ok(self.page(who, **params))["items"]))

    def search(self, *conditions: tuple[str, str, Any], match: str = "all", **extra: Any) -> Any:
        body = {
            "match": match,
            "conditions": [{"field": f, "op": o, "value": v} for f, o, v in conditions],
            **extra,
        }
        return self.client.post(
            "/v1/interactions/search",
            params={"min_position": self.position},
            json=body,
            headers=bearer(self.acme.admin),
        )

    def found(self, *conditions: tuple[str, str, Any], match: str = "all") -> set[str]:
        return set(self.names(ok(self.search(*conditions, match=match))["items"]))

    def row(self, name: str) -> dict[str, Any]:
        rows = ok(self.page(limit=200))["items"]
        found: dict[str, Any] = next(r for r in rows if r["interaction_id"] == self.ids[name])
        return found

    def receive(self, name: str, **email: Any) -> str:
        self.clock.advance(minutes=1)
        answer = post_email(self.client, self.acme, raw_email(**email))
        self.ids[name] = str(answer["interaction_id"])
        self.position = max(self.position, answer["position"])
        return self.ids[name]

    def act(self, who: str, command: str, name: str, body: Any = None) -> Any:
        self.clock.advance(minutes=1)
        headers = bearer(self.acme.admin) if who == "admin" else self.acme.token(who)
        answer = ok(
            self.client.post(
                f"/v1/interactions/{self.ids[name]}/{command}", headers=headers, json=body
            )
        )
        self.position = max(self.position, answer["position"])
        return answer

    def configure(self, path: str, body: Any, method: str = "PUT") -> Any:
        answer = ok(
            self.client.request(
                method,
                f"/v1/companies/{self.acme.id}{path}",
                json=body,
                headers=bearer(self.acme.admin),
            ),
            201 if method == "POST" else 200,
        )
        self.position = max(self.position, answer.get("position", 0))
        return answer

    def offer(self, name: str, agent: str) -> None:
        """No dispatcher runs here: the offer is made on the aggregate, as the dispatcher does."""
        services = self.client.app.state.services  # type: ignore[attr-defined]
        interaction = services.app.interaction(UUID(self.ids[name]))
        interaction.offer(UUID(self.acme.agent_id(agent)), {"rule": "test"}, at=self.clock())
        self.position = max(self.position, services.app.save(interaction)[-1].notification.id)


def search_world(client: TestClient, clock: FixedClock) -> SearchWorld:
    """Seven interactions, one minute apart, named after what the lists should find them by."""
    w = SearchWorld(client, clock, company(client))
    w.configure("/substatuses", {"substatuses": ["Pending"]})
    tree = [{"name": "Resolved", "children": [{"name": "Refund"}]}, {"name": "Spam"}]
    w.configure("/dispositions", {"tree": tree})
    sales = {"address": "sales@acme.test", "default_queue_id": w.acme.queues["Billing"]}
    w.configure("/mailboxes", sales, method="POST")
    first_id = "<invoice-42@customer.test>"
    first = w.receive(
        "queued", sender="carol@customer.test", subject="Invoice 42 is wrong", message_id=first_id
    )
    w.receive("active", sender="dan@customer.test", subject="Delivery late")
    w.act("A", "accept", "active")
    w.act("A", "tags", "active", {"add": ["vip", "billing"]})
    w.receive("parked", sender="erin@customer.test", subject="Password reset")
    w.act("B", "accept", "parked")
    w.act("B", "substatus", "parked", {"substatus": "Pending"})
    w.act("B", "park", "parked")
    w.receive("closed", sender="fay@customer.test", subject="Refund please")
    w.act("A", "accept", "closed")
    w.act("A", "close", "closed", {"disposition": ["Resolved", "Refund"]})
    w.act("A", "resume", "active")  # accepting "closed" had parked it
    w.receive("unmanaged", sender="gus@spam.test", subject="Cheap watches")
    w.act("supervisor", "close", "unmanaged", {"disposition": ["Spam"]})
    w.receive("billing", sender="hal@customer.test", to="sales@acme.test", subject="Card declined")
    w.receive("offered", sender="ivy@customer.test", subject="Opening hours")
    w.clock.advance(minutes=1)
    again = raw_email(
        sender="carol@customer.test",
        subject="Re: Invoice",
        body="Still wrong!",
        in_reply_to=first_id,
    )
    answer = post_email(client, w.acme, again, status=200)  # threaded into "queued"
    assert answer["interaction_id"] == first
    w.position = max(w.position, answer["position"])
    w.clock.advance(minutes=1)
    w.offer("offered", "A")  # last, and the clock stays: the offer must not expire meanwhile
    return w


def problem(response: Any, status: int = 422) -> str:
    """The problem type of a refused request."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return str(response.json()["type"])
