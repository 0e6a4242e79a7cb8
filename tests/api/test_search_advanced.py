"""`POST /v1/interactions/search`: conditions on fields, all or any; bad conditions are 422."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.scenario import ok
from tests.api.search_world import NAMES, SearchWorld, problem, search_world
from tests.fakes import T0, FixedClock


@pytest.fixture
def world(client: TestClient, clock: FixedClock) -> SearchWorld:
    return search_world(client, clock)


def test_text_fields_take_equals_contains_and_starts_with(world: SearchWorld) -> None:
    assert world.found(("subject", "contains", "VOICE 4")) == {"queued"}
    assert world.found(("subject", "starts_with", "delivery")) == {"active"}
    assert world.found(("subject", "equals", "invoice 42 is WRONG")) == {"queued"}
    assert world.found(("subject", "equals", "invoice 42")) == set()
    assert world.found(("contact_email", "equals", "Dan@Customer.test")) == {"active"}
    assert world.found(("contact_email", "contains", "@spam.")) == {"unmanaged"}
    assert world.found(("contact_email", "starts_with", "fay")) == {"closed"}
    assert world.found(("contact_name", "equals", "carol")) == set(NAMES)
    assert world.found(("text", "contains", "still wrong")) == {"queued"}
    assert world.found(("text", "starts_with", "please fix")) == set(NAMES)
    assert world.found(("mailbox", "starts_with", "sales@")) == {"billing"}
    assert world.found(("disposition", "equals", "Resolved / Refund")) == {"closed"}
    assert world.found(("disposition", "contains", "refund")) == {"closed"}
    assert world.found(("disposition", "starts_with", "spam")) == {"unmanaged"}
    assert world.found(("subject", "contains", "%")) == set()


def test_ids_statuses_and_tags_take_equals(world: SearchWorld) -> None:
    a = world.acme.agent_id("A")
    assert world.found(("queue_id", "equals", world.acme.queues["Billing"])) == {"billing"}
    assert world.found(("owner", "equals", a)) == {"active", "closed"}
    assert world.found(("owner", "equals", None)) == {"queued", "billing", "offered", "unmanaged"}
    assert world.found(("first_agent", "equals", None), ("status", "equals", "closed")) == {
        "unmanaged"
    }
    assert world.found(("status", "equals", "open_with_substatus")) == {"parked"}
    assert world.found(("status", "equals", "offered")) == {"offered"}
    assert world.found(("substatus", "equals", "Pending")) == {"parked"}
    assert world.found(("substatus", "equals", None)) == set(NAMES) - {"parked"}
    assert world.found(("disposition", "equals", None)) == set(NAMES) - {"closed", "unmanaged"}
    assert world.found(("tag", "equals", "vip"), ("tag", "equals", "billing")) == {"active"}


def test_dates_take_equals_before_and_after(world: SearchWorld) -> None:
    closed_at = world.row("closed")["created_at"]
    day = T0.date().isoformat()
    assert world.found(("created_at", "equals", closed_at)) == {"closed"}
    assert world.found(("created_at", "before", closed_at)) == {"queued", "active", "parked"}
    assert world.found(("created_at", "after", closed_at)) == {"unmanaged", "billing", "offered"}
    assert world.found(("created_at", "equals", day)) == set(NAMES)
    assert world.found(("created_at", "before", day)) == set()
    assert world.found(("created_at", "after", day)) == set()
    assert world.found(("created_at", "after", "2026-03-01")) == set(NAMES)
    offered_at = world.row("offered")["last_activity_at"]
    assert world.found(("last_activity_at", "before", offered_at)) == set(NAMES) - {"offered"}


def test_all_needs_every_condition_and_any_one_of_them(world: SearchWorld) -> None:
    invoice, vip = ("subject", "contains", "invoice"), ("tag", "equals", "vip")
    assert world.found(invoice, vip, match="all") == set()
    assert world.found(invoice, vip, match="any") == {"queued", "active"}
    closed, unread = ("status", "equals", "closed"), ("text", "contains", "please")
    assert world.found(closed, ("owner", "equals", None)) == {"unmanaged"}
    assert world.found(closed, ("status", "equals", "parked"), match="any") == {
        "closed",
        "unmanaged",
        "parked",
    }
    assert world.found(closed, unread, match="all") == {"closed", "unmanaged"}


def test_pages_and_the_callers_queues(world: SearchWorld) -> None:
    condition = ("status", "equals", "open")
    first = ok(world.search(condition, limit=3))
    second = ok(world.search(condition, limit=3, cursor=first["next_cursor"]))
    assert second["next_cursor"] is None
    assert set(world.names(first["items"] + second["items"])) == {
        "queued",
        "billing",
        "offered",
        "active",
        "parked",
    }
    assert world.names(first["items"]) == ["offered", "queued", "billing"]
    supervisor = world.acme.agent_id("supervisor")
    changed = ok(
        world.client.patch(
            f"/v1/companies/{world.acme.id}/users/{supervisor}",
            json={"visible_queues": [world.acme.queues["Billing"]]},
            headers={"Authorization": f"Bearer {world.acme.admin}"},
        )
    )
    answer = world.client.post(
        "/v1/interactions/search",
        params={"min_position": changed["position"]},
        json={"conditions": [{"field": "status", "op": "equals", "value": "open"}]},
        headers=world.acme.token("supervisor"),
    )
    assert world.names(ok(answer)["items"]) == ["billing"]


@pytest.mark.parametrize(
    ("condition", "reason"),
    [
        (("subject", "before", "2026-03-02"), "subject (text) takes equals, contains, starts_with"),
        (("created_at", "contains", "2026"), "created_at (date) takes equals, before, after"),
        (("owner", "contains", "a"), "owner (id) takes equals"),
        (("tag", "starts_with", "v"), "tag (tag) takes equals"),
        (("subject", "equals", None), "subject equals needs a value"),
        (("subject", "contains", "  "), "needs a non-blank value"),
        (("owner", "equals", "bob"), "owner takes an id"),
        (("created_at", "after", "yesterday"), "neither a date nor a date and time"),
        (("status", "equals", "pending"), "unknown status 'pending'"),
    ],
)
def test_a_condition_that_cannot_run_is_refused_with_the_reason(
    world: SearchWorld, condition: tuple[str, str, Any], reason: str
) -> None:
    refused = world.search(condition)
    assert problem(refused) == "/problems/invalid-search"
    assert reason in refused.json()["detail"]


@pytest.mark.parametrize(
    "body",
    [
        {"conditions": []},
        {"conditions": [{"field": "subject", "op": "contains", "value": "x"}] * 21},
        {"conditions": [{"field": "password", "op": "equals", "value": "x"}]},
        {"conditions": [{"field": "subject", "op": "like", "value": "x"}]},
        {"conditions": [{"field": "subject", "op": "contains"}]},
        {"match": "most", "conditions": [{"field": "subject", "op": "contains", "value": "x"}]},
        {"limit": 201, "conditions": [{"field": "subject", "op": "contains", "value": "x"}]},
        {"sql": "1=1", "conditions": [{"field": "subject", "op": "contains", "value": "x"}]},
        {"cursor": "garbage", "conditions": [{"field": "subject", "op": "contains", "value": "x"}]},
    ],
)
def test_a_malformed_body_is_refused(world: SearchWorld, body: dict[str, Any]) -> None:
    answer = world.client.post("/v1/interactions/search", json=body, headers=world.acme.token("A"))
    assert problem(answer).startswith("/problems/")
