"""`GET /v1/interactions`: each filter narrows the list, alone and combined; bad values are 422."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from tests.api.scenario import bearer, company, ok, post_email, raw_email
from tests.api.search_world import NAMES, SearchWorld, problem, search_world
from tests.fakes import T0, FixedClock


@pytest.fixture
def world(client: TestClient, clock: FixedClock) -> SearchWorld:
    return search_world(client, clock)


OPEN = {"queued", "billing", "offered", "active", "parked"}


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("queued", {"queued", "billing"}),
        ("offered", {"offered"}),
        ("active", {"active"}),
        ("parked", {"parked"}),
        ("closed", {"closed", "unmanaged"}),
        ("open", OPEN),
        ("open_with_substatus", {"parked"}),
        ("closed_unmanaged", {"unmanaged"}),
    ],
)
def test_status_takes_a_state_or_a_group(
    world: SearchWorld, status: str, expected: set[str]
) -> None:
    assert world.listed(status=status) == expected


def test_without_filters_the_list_is_every_interaction_by_last_activity(world: SearchWorld) -> None:
    rows = ok(world.page())["items"]
    assert world.names(rows) == [
        "offered",
        "queued",
        "billing",
        "unmanaged",
        "active",
        "closed",
        "parked",
    ]
    assert [r["last_activity_at"] for r in rows] == sorted(
        (r["last_activity_at"] for r in rows), reverse=True
    )
    assert world.listed(status="open", assignee="all") == OPEN


def test_substatus_queue_and_mailbox(world: SearchWorld) -> None:
    queues = world.acme.queues
    assert world.listed(substatus="Pending") == {"parked"}
    assert world.listed(substatus="Waiting") == set()
    assert world.listed(queue=queues["Billing"]) == {"billing"}
    assert world.listed(queue=[queues["General"], queues["Billing"]]) == set(NAMES)
    assert world.listed(mailbox="SALES@acme.test") == {"billing"}
    assert world.listed(mailbox="support@acme.test") == set(NAMES) - {"billing"}
    assert world.listed(mailbox=["sales@acme.test", "nobody@acme.test"]) == {"billing"}


def test_assignee_is_me_unassigned_all_or_an_agent(world: SearchWorld) -> None:
    a, b = world.acme.agent_id("A"), world.acme.agent_id("B")
    assert world.listed("A", assignee="me") == {"active", "closed"}  # closed keeps its owner
    assert world.listed("B", assignee="me") == {"parked"}
    assert world.listed("supervisor", assignee="me") == set()
    assert world.listed(assignee="unassigned") == {"queued", "billing", "offered", "unmanaged"}
    assert world.listed(assignee=b) == {"parked"}
    assert world.listed(assignee="all") == set(NAMES)
    assert world.listed(agent=a) == {"active", "closed"}
    assert world.listed(first_agent=a) == {"active", "closed"}
    assert world.listed(first_agent=b, status="closed") == set()


def test_every_tag_must_be_present(world: SearchWorld) -> None:
    assert world.listed(tag="vip") == {"active"}
    assert world.listed(tag=["vip", "billing"]) == {"active"}
    assert world.listed(tag=["vip", "gold"]) == set()
    assert world.listed(tag="VIP") == set()


def test_unread_and_combinations(world: SearchWorld) -> None:
    assert world.listed(unread=True) == {"queued", "billing", "offered", "unmanaged"}
    assert world.listed(unread=False) == {"active", "parked", "closed"}
    general = world.acme.queues["General"]
    assert world.listed(status="open", assignee="unassigned", queue=general) == {
        "queued",
        "offered",
    }
    assert world.listed(status="closed", unread=True) == {"unmanaged"}


def test_created_range_is_inclusive_and_a_date_is_a_day_in_the_company_zone(
    world: SearchWorld,
) -> None:
    created = {name: world.row(name)["created_at"] for name in NAMES}
    closed_at = created["closed"]
    assert world.listed(created_from=closed_at) == {"closed", "unmanaged", "billing", "offered"}
    assert world.listed(created_to=closed_at) == {"queued", "active", "parked", "closed"}
    assert world.listed(created_from=closed_at, created_to=closed_at) == {"closed"}
    day = T0.date().isoformat()  # 10:00 in Berlin
    assert world.listed(created_from=day, created_to=day) == set(NAMES)
    assert world.listed(created_to=(T0.date() - timedelta(days=1)).isoformat()) == set()
    assert world.listed(created_from=(T0.date() + timedelta(days=1)).isoformat()) == set()
    assert world.listed(since=world.row("billing")["last_activity_at"]) == {
        "billing",
        "offered",
        "queued",
    }


def test_rows_show_what_a_list_needs(world: SearchWorld) -> None:
    queued = world.row("queued")
    assert (queued["unread"], queued["unread_count"], queued["last_direction"]) == (True, 2, "in")
    assert (queued["snippet"], queued["customer"], queued["mailbox"]) == (
        "Still wrong!",
        "carol@customer.test",
        "support@acme.test",
    )
    closed = world.row("closed")
    assert (closed["disposition"], closed["owner"], closed["first_agent"]) == (
        ["Resolved", "Refund"],
        world.acme.agent_id("A"),
        world.acme.agent_id("A"),
    )
    assert world.row("unmanaged")["first_agent"] is None
    assert world.row("parked")["substatus"] == "Pending"
    active = world.row("active")
    assert (active["tags"], active["unread_count"], active["queue_id"]) == (
        ["billing", "vip"],
        0,
        world.acme.queues["General"],
    )
    world.act("A", "mark-unread", "active")
    assert (world.row("active")["unread"], world.row("active")["unread_count"]) == (True, 1)
    world.act("A", "reply", "active", {"body_text": "It ships   tomorrow."})
    assert (world.row("active")["last_direction"], world.row("active")["snippet"]) == (
        "out",
        "It ships tomorrow.",
    )
    world.act("A", "mark-read", "active")
    assert world.row("active")["unread_count"] == 0
    world.act("B", "accept", "queued")
    assert (world.row("queued")["unread"], world.row("queued")["unread_count"]) == (False, 0)


def test_a_supervisor_sees_only_the_queues_they_may_see(world: SearchWorld) -> None:
    supervisor = world.acme.agent_id("supervisor")
    changed = ok(
        world.client.patch(
            f"/v1/companies/{world.acme.id}/users/{supervisor}",
            json={"visible_queues": [world.acme.queues["Billing"]]},
            headers=bearer(world.acme.admin),
        )
    )
    world.position = max(world.position, changed["position"])
    assert world.listed("supervisor") == {"billing"}
    assert world.listed("supervisor", queue=world.acme.queues["General"]) == set()


@pytest.mark.parametrize(
    "params",
    [
        {"status": "pending"},
        {"status": "received"},
        {"queue": "billing"},
        {"assignee": "bob"},
        {"first_agent": "A"},
        {"unread": "maybe"},
        {"limit": 201},
        {"limit": 0},
        {"created_from": "yesterday"},
        {"tag": "x" * 51},
        {"tag": ""},
        {"q": "x" * 201},
        {"cursor": "not-a-cursor"},
    ],
)
def test_invalid_values_are_refused(world: SearchWorld, params: dict[str, object]) -> None:
    assert problem(world.page(**params)).startswith("/problems/")


def test_contradictions_are_refused_with_a_reason(world: SearchWorld) -> None:
    a = world.acme.agent_id("A")
    refused = world.page(created_from="2026-03-03", created_to="2026-03-02")
    assert problem(refused) == "/problems/invalid-search"
    assert "created_from" in refused.json()["detail"]
    assert problem(world.page(agent=a, assignee="me")) == "/problems/invalid-search"
    assert problem(world.page(q=" ".join(f"w{n}" for n in range(21)))) == "/problems/invalid-search"


def test_pages_neither_repeat_nor_skip_while_new_mail_arrives(
    client: TestClient, clock: FixedClock
) -> None:
    world = SearchWorld(client, clock, company(client))
    for n in range(20):
        world.receive(f"question{n}", sender=f"c{n}@customer.test", subject=f"Question {n}")
    initial = set(world.ids.values())
    seen: list[str] = []
    cursor = None
    for _ in range(20):  # at most 7 pages; a cursor that repeats fails instead of looping
        params = {"limit": 3} if cursor is None else {"limit": 3, "cursor": cursor}
        page = ok(world.page(**params))
        assert len(page["items"]) <= 3
        seen += [row["interaction_id"] for row in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        for moment in (T0, clock.now):  # before every listed row (it would sort in between), now
            clock.now = moment
            arrived = post_email(client, world.acme, raw_email(subject="Arrived between pages"))
            world.position = arrived["position"]
    assert cursor is None
    assert len(seen) == len(set(seen)) == 20
    assert set(seen) == initial
    assert len(ok(world.page(limit=200))["items"]) == 20 + 2 * 6  # page 1 again: the new mail
