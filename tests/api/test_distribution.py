"""Distribution over HTTP, on SQLite and PostgreSQL, with presence in the real Redis.

Each test drives the dispatcher one cycle at a time (`env.dispatch()`) on a fake clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from api.settings import Settings
from tests.api.distribution_env import Env, open_env
from tests.api.scenario import Company, bearer, company, ok, received_interaction
from tests.fakes import FixedClock


@pytest.fixture
def env(settings: Settings, clock: FixedClock) -> Iterator[Env]:
    yield from open_env(settings, clock)


def add_agent(env: Env, acme: Company, name: str, queues: list[str], capacity: int = 3) -> None:
    user = ok(
        env.client.post(
            f"/v1/companies/{acme.id}/users",
            headers=bearer(acme.admin),
            json={
                "name": name,
                "email": f"{name.lower()}@acme.test",
                "role": "agent",
                "queues": [acme.queues[q] for q in queues],
                "capacity": capacity,
            },
        ),
        201,
    )
    acme.agents[name] = (user["id"], user["token"])


def act(env: Env, acme: Company, name: str, command: str, interaction_id: str, **body: Any) -> Any:
    return ok(
        env.client.post(
            f"/v1/interactions/{interaction_id}/{command}",
            headers=acme.token(name),
            json=body or None,
        )
    )


def agent_command(env: Env, acme: Company, name: str, command: str) -> None:
    ok(env.client.post(f"/v1/agents/{acme.agent_id(name)}/{command}", headers=acme.token(name)))


def set_distribution(env: Env, acme: Company, **settings: Any) -> None:
    ok(
        env.client.put(
            f"/v1/companies/{acme.id}/distribution", headers=bearer(acme.admin), json=settings
        )
    )


def offer_reasons(env: Env, acme: Company, interaction_id: str) -> list[dict[str, Any]]:
    head = env.distribution.dispatcher.app.recorder.max_notification_id()
    entries = ok(
        env.client.get(
            f"/v1/interactions/{interaction_id}/timeline",
            params={"min_position": head},
            headers=acme.token("A"),
        )
    )["entries"]
    return [e["details"]["reason"] for e in entries if e["type"] == "offered"]


def test_a_rejected_offer_passes_to_the_next_agent_and_an_expired_one_is_offered_again(
    env: Env,
) -> None:
    acme = company(env.client)
    add_agent(env, acme, "C", ["Billing"])  # not a member of General, where the email waits
    env.log_in(acme, "A", "B", "C")
    first = received_interaction(env.client, acme)

    env.dispatch()
    assert env.offered_to(acme, first) == acme.agent_id("A")  # logged in first: idle longest
    env.clock.advance(seconds=5)
    act(env, acme, "A", "reject", first)
    env.dispatch()
    assert env.offered_to(acme, first) == acme.agent_id("B")

    env.clock.advance(seconds=61)  # B lets the offer expire: everyone in the queue said no
    env.connected(acme, "A", "B", "C")
    env.dispatch()
    env.dispatch()
    assert env.offered_to(acme, first) == acme.agent_id("A")  # a new round
    assert env.timeline(acme, first)[-5:] == [
        ("offer_rejected", f"agent:{acme.agent_id('A')}"),
        ("offered", "system"),
        ("offer_expired", "system"),
        ("returned_to_queue", "system"),
        ("offered", "system"),
    ]

    second = received_interaction(env.client, acme)
    env.dispatch()
    assert env.offered_to(acme, second) == acme.agent_id("B")  # A has an offer standing
    env.clock.advance(seconds=61)
    env.connected(acme, "A", "B", "C")
    act(env, acme, "A", "accept", first)
    env.dispatch()
    assert env.offered_to(acme, second) == acme.agent_id("A")  # expired, then the next agent
    assert all(
        r["excluded"].get(acme.agent_id("C")) is None for r in offer_reasons(env, acme, second)
    )


def test_paused_offline_on_call_or_full_agents_are_never_offered_work(env: Env) -> None:
    acme = company(env.client)
    for name in ("C", "D"):
        add_agent(env, acme, name, ["General"], capacity=1)
    env.log_in(acme, "C")
    held = received_interaction(env.client, acme)
    env.dispatch()
    act(env, acme, "C", "accept", held)  # C is now at capacity
    env.log_in(acme, "A", "D")
    env.log_in(acme, "B", connect=False)
    agent_command(env, acme, "A", "pause")
    agent_command(env, acme, "D", "call-started")
    env.clock.advance(seconds=35)  # B's client never connected: presence lapses
    env.connected(acme, "A", "C", "D")
    waiting = received_interaction(env.client, acme)

    env.dispatch()
    env.dispatch()
    assert env.offered_to(acme, waiting) is None
    agents = ok(
        env.client.get(
            f"/v1/queues/{acme.queues['General']}/agents", headers=acme.token("supervisor")
        )
    )["items"]
    status = {a["agent_id"]: a for a in agents}
    assert (status[acme.agent_id("B")]["logged_in"], status[acme.agent_id("B")]["present"]) == (
        False,
        False,
    )
    assert status[acme.agent_id("A")]["paused"]
    assert status[acme.agent_id("D")]["on_call"]
    assert status[acme.agent_id("C")]["held"] == 1
    reasons = offer_reasons(env, acme, held)
    assert reasons[0]["candidate_count"] == 1

    agent_command(env, acme, "A", "unpause")
    env.dispatch()
    assert env.offered_to(acme, waiting) == acme.agent_id("A")


def test_the_last_agent_of_a_sender_wins_only_while_eligible_and_within_the_window(
    env: Env,
) -> None:
    acme = company(env.client)
    env.log_in(acme, "A", "B")

    def handled_by(name: str) -> str:
        email = received_interaction(env.client, acme, sender="carol@customer.test")
        env.dispatch()
        act(env, acme, name, "accept", email)
        act(env, acme, name, "close", email, disposition=[])
        return email

    handled_by("A")  # A longest idle: carol's first email
    again = handled_by("A")  # B is idle longer now, but A handled carol last
    assert offer_reasons(env, acme, again)[-1]["rule"] == "sticky-sender"

    agent_command(env, acme, "A", "pause")
    third = handled_by("B")
    reason = offer_reasons(env, acme, third)[-1]
    assert (reason["rule"], reason["sticky"]["eligible"]) == ("longest-idle", False)

    set_distribution(env, acme, sticky_window_seconds=60)
    agent_command(env, acme, "A", "unpause")
    env.clock.advance(minutes=2)
    env.connected(acme, "A", "B")
    fourth = received_interaction(env.client, acme, sender="carol@customer.test")
    env.dispatch()
    reason = offer_reasons(env, acme, fourth)[-1]
    assert (reason["rule"], reason["sticky"]["within_window"]) == ("longest-idle", False)
    assert env.offered_to(acme, fourth) == reason["candidates"][0]["agent_id"]


def test_when_all_of_an_agents_email_is_parked_the_next_one_is_offered(env: Env) -> None:
    acme = company(env.client)
    add_agent(env, acme, "P", ["General"], capacity=1)
    env.log_in(acme, "P")
    first = received_interaction(env.client, acme)
    env.dispatch()
    act(env, acme, "P", "accept", first)
    second = received_interaction(env.client, acme)
    act(env, acme, "P", "park", first)
    env.dispatch()
    assert env.offered_to(acme, second) is None  # parked email counts toward capacity

    set_distribution(env, acme, parked_count_toward_capacity=False, max_parking_seconds=300)
    env.dispatch()
    assert env.offered_to(acme, second) == acme.agent_id("P")
    act(env, acme, "P", "accept", second)

    env.clock.advance(seconds=301)  # parked longer than the company allows
    env.connected(acme, "P")
    env.dispatch()
    view = env.interaction(acme, first)
    assert (view["status"], view["owner"]) == ("queued", None)
    assert env.timeline(acme, first)[-1] == ("returned_to_queue", "system")
    assert env.interaction(acme, second)["status"] == "active"


def test_a_call_parks_the_active_email_and_its_end_resumes_it_without_counting_the_call(
    env: Env,
) -> None:
    acme = company(env.client)
    env.log_in(acme, "A")
    email = received_interaction(env.client, acme)
    env.dispatch()
    act(env, acme, "A", "accept", email)
    env.clock.advance(minutes=2)
    agent_command(env, acme, "A", "call-started")
    waiting = received_interaction(env.client, acme)
    env.dispatch()
    assert env.interaction(acme, email)["status"] == "parked"
    assert env.offered_to(acme, waiting) is None  # on a call

    env.clock.advance(minutes=5)
    env.connected(acme, "A")
    agent_command(env, acme, "A", "call-ended")
    env.dispatch()
    assert env.offered_to(acme, waiting) == acme.agent_id("A")
    env.clock.advance(minutes=1)
    closed = act(env, acme, "A", "close", email, disposition=[])

    assert closed["handling_ms"] == 3 * 60_000  # 2 minutes before the call, 1 after
    assert env.timeline(acme, email)[-3:] == [
        ("parked", "system"),
        ("resumed", "system"),
        ("closed", f"agent:{acme.agent_id('A')}"),
    ]


def test_the_system_disposes_late_email_and_closes_unanswered_outbound_email(env: Env) -> None:
    acme = company(env.client)
    admin = bearer(acme.admin)
    tree = [{"name": "Resolved"}, {"name": "Spam"}]
    ok(
        env.client.put(
            f"/v1/companies/{acme.id}/dispositions",
            headers=admin,
            json={"tree": tree, "mandatory": True, "default": ["Spam"], "timeout_seconds": 600},
        )
    )
    env.log_in(acme, "A")
    email = received_interaction(env.client, acme)
    env.dispatch()
    act(env, acme, "A", "accept", email)
    act(env, acme, "A", "reply", email, body_text="Done, thanks.")
    started = ok(
        env.client.post(
            f"/v1/companies/{acme.id}/outbound",
            headers=acme.token("A"),
            json={
                "mailbox_id": acme.mailbox_id,
                "queue_id": acme.queues["General"],
                "to": ["dave@supplier.test"],
                "subject": "Your order",
                "body_text": "Is it still wanted?",
            },
        ),
        201,
    )
    outbound = started["id"]

    env.clock.advance(seconds=601)
    env.dispatch()
    closed = env.interaction(acme, email)
    assert (closed["status"], closed["disposition"]) == ("closed", ["Spam"])
    assert env.timeline(acme, email)[-1] == ("closed", "system")
    assert env.interaction(acme, outbound)["status"] != "closed"

    env.clock.advance(days=30)
    env.dispatch()
    view = env.interaction(acme, outbound)
    assert (view["status"], view["disposition"]) == (
        "closed",
        ["closed due to customer inactivity"],
    )
