"""Agent: registration, membership, presence, calls and workload, as events."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from copy import deepcopy
from datetime import datetime, timedelta
from uuid import uuid4

import pytest
from eventsourcing.domain import Aggregate

from domain.agent import Agent
from domain.errors import AgentUnavailable, DomainError, InvalidInput, RuleViolated
from tests.fakes import T0

COMPANY, Q1, Q2, Q3 = uuid4(), uuid4(), uuid4(), uuid4()
X, Y = uuid4(), uuid4()  # two interactions
ADMIN = f"admin:{uuid4()}"


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def recorded(aggregate: Aggregate) -> list[str]:
    """Names of the events recorded since the last call."""
    return [type(e).__name__ for e in aggregate.collect_events()]


@contextmanager
def refused(aggregate: Aggregate, error: type[DomainError]) -> Iterator[None]:
    """Then the command raises `error`, records nothing and changes nothing."""
    before = deepcopy(aggregate.__dict__)
    with pytest.raises(error):
        yield
    assert recorded(aggregate) == []
    assert aggregate.__dict__ == before


def register(**overrides: object) -> Agent:
    values: dict[str, object] = {
        "name": "Ann",
        "email": "ann@acme.test",
        "role": "agent",
        "queue_ids": [Q1],
        "capacity": 3,
    }
    values.update(overrides)
    return Agent.register(uuid4(), COMPANY, actor=ADMIN, at=at(0), **values)  # type: ignore[arg-type]


@pytest.fixture
def registered_agent() -> Agent:
    agent = register()
    agent.collect_events()
    return agent


@pytest.fixture
def logged_in_agent(registered_agent: Agent) -> Agent:
    registered_agent.log_in(actor="agent", at=at(1))
    registered_agent.collect_events()
    return registered_agent


@pytest.fixture
def paused_agent(logged_in_agent: Agent) -> Agent:
    logged_in_agent.pause("lunch", actor="agent", at=at(2))
    logged_in_agent.collect_events()
    return logged_in_agent


@pytest.fixture
def busy_agent(logged_in_agent: Agent) -> Agent:
    """Holds X and works on it."""
    logged_in_agent.track(X, owned=True, active=True, actor="agent", at=at(3))
    logged_in_agent.collect_events()
    return logged_in_agent


@pytest.fixture
def agent_on_a_call(busy_agent: Agent) -> Agent:
    """The call parked X."""
    busy_agent.start_call(actor="agent", at=at(4))
    busy_agent.track(X, owned=True, active=False, actor="system", at=at(4))
    busy_agent.collect_events()
    return busy_agent


# --- registration and configuration --------------------------------------------------------


def test_a_registered_agent_is_offline_and_holds_nothing() -> None:
    agent = register(name="  Ann  ", queue_ids=[Q1, Q2, Q1])

    assert recorded(agent) == ["Registered"]
    assert (agent.name, agent.role, agent.capacity) == ("Ann", "agent", 3)
    assert agent.queue_ids == [Q1, Q2]
    assert (agent.logged_in, agent.is_available) == (False, False)
    assert (agent.held, agent.active) == ([], None)


@pytest.mark.parametrize(
    "bad",
    [{"role": "boss"}, {"capacity": 0}, {"capacity": 101}, {"name": "  "}, {"name": "x" * 201}],
)
def test_registration_refuses_invalid_values(bad: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        register(**bad)


def test_an_admin_changes_the_role(registered_agent: Agent) -> None:
    registered_agent.set_role("supervisor", actor=ADMIN, at=at(1))

    assert recorded(registered_agent) == ["RoleSet"]
    assert registered_agent.role == "supervisor"
    with refused(registered_agent, InvalidInput):
        registered_agent.set_role("owner", actor=ADMIN, at=at(2))


def test_joining_and_leaving_queues(registered_agent: Agent) -> None:
    registered_agent.join_queue(Q2, actor=ADMIN, at=at(1))
    registered_agent.leave_queue(Q1, actor=ADMIN, at=at(2))

    assert recorded(registered_agent) == ["JoinedQueue", "LeftQueue"]
    assert registered_agent.queue_ids == [Q2]


def test_joining_a_queue_twice_or_leaving_one_never_joined_is_refused(
    registered_agent: Agent,
) -> None:
    with refused(registered_agent, RuleViolated):
        registered_agent.join_queue(Q1, actor=ADMIN, at=at(1))
    with refused(registered_agent, RuleViolated):
        registered_agent.leave_queue(Q2, actor=ADMIN, at=at(1))


def test_an_access_profile_limits_the_visible_queues_to_it_and_member_queues(
    registered_agent: Agent,
) -> None:
    assert registered_agent.can_see_queue(Q3)  # no profile: every queue

    registered_agent.set_access_profile([Q2, Q2], actor=ADMIN, at=at(1))

    assert recorded(registered_agent) == ["AccessProfileSet"]
    assert registered_agent.visible_queue_ids == [Q2]
    assert [registered_agent.can_see_queue(q) for q in (Q1, Q2, Q3)] == [True, True, False]


def test_an_admin_sees_every_queue_whatever_the_profile() -> None:
    admin = register(role="admin", queue_ids=[])
    admin.set_access_profile([Q2], actor=ADMIN, at=at(1))

    assert admin.can_see_queue(Q3)


def test_capacity_is_one_to_a_hundred(registered_agent: Agent) -> None:
    registered_agent.set_capacity(100, actor=ADMIN, at=at(1))

    assert recorded(registered_agent) == ["CapacitySet"]
    assert registered_agent.capacity == 100
    with refused(registered_agent, InvalidInput):
        registered_agent.set_capacity(0, actor=ADMIN, at=at(2))


# --- presence ------------------------------------------------------------------------------


def test_logging_in_makes_the_agent_available(registered_agent: Agent) -> None:
    registered_agent.log_in(actor="agent", at=at(1))

    assert recorded(registered_agent) == ["LoggedIn"]
    assert registered_agent.is_available


def test_logging_in_twice_is_refused(logged_in_agent: Agent) -> None:
    with refused(logged_in_agent, RuleViolated):
        logged_in_agent.log_in(actor="agent", at=at(2))


def test_logging_out_ends_a_pause(paused_agent: Agent) -> None:
    paused_agent.log_out(actor="agent", at=at(3))

    assert recorded(paused_agent) == ["LoggedOut"]
    assert (paused_agent.logged_in, paused_agent.paused_reason) == (False, None)


def test_an_agent_who_is_not_logged_in_cannot_log_out_or_pause(registered_agent: Agent) -> None:
    with refused(registered_agent, RuleViolated):
        registered_agent.log_out(actor="agent", at=at(1))
    with refused(registered_agent, AgentUnavailable):
        registered_agent.pause("lunch", actor="agent", at=at(1))


def test_a_paused_agent_is_unavailable_until_unpaused(logged_in_agent: Agent) -> None:
    logged_in_agent.pause("  lunch ", actor="agent", at=at(2))
    assert recorded(logged_in_agent) == ["Paused"]
    assert (logged_in_agent.paused_reason, logged_in_agent.is_available) == ("lunch", False)

    logged_in_agent.unpause(actor="agent", at=at(3))

    assert recorded(logged_in_agent) == ["Unpaused"]
    assert logged_in_agent.is_available


def test_pausing_twice_is_refused(paused_agent: Agent) -> None:
    with refused(paused_agent, RuleViolated):
        paused_agent.pause("coffee", actor="agent", at=at(3))


@pytest.mark.parametrize("reason", ["", "   ", "x" * 101])
def test_a_pause_reason_is_one_to_a_hundred_characters(reason: str, logged_in_agent: Agent) -> None:
    with refused(logged_in_agent, InvalidInput):
        logged_in_agent.pause(reason, actor="agent", at=at(2))


def test_unpausing_an_agent_who_is_not_paused_is_refused(logged_in_agent: Agent) -> None:
    with refused(logged_in_agent, RuleViolated):
        logged_in_agent.unpause(actor="agent", at=at(2))


# --- voice calls ---------------------------------------------------------------------------


def test_a_call_names_the_active_email_for_the_caller_to_park(busy_agent: Agent) -> None:
    parked = busy_agent.start_call(actor="agent", at=at(4))

    [started] = busy_agent.collect_events()
    assert isinstance(started, Agent.CallStarted)
    assert parked == started.parked_interaction_id == X
    assert (busy_agent.on_call, busy_agent.is_available) == (True, False)


def test_a_call_without_an_active_email_parks_nothing(logged_in_agent: Agent) -> None:
    assert logged_in_agent.start_call(actor="agent", at=at(4)) is None
    assert recorded(logged_in_agent) == ["CallStarted"]


def test_a_second_call_at_once_is_refused(agent_on_a_call: Agent) -> None:
    with refused(agent_on_a_call, RuleViolated):
        agent_on_a_call.start_call(actor="agent", at=at(5))


def test_ending_the_call_resumes_the_email_it_parked(agent_on_a_call: Agent) -> None:
    resumed = agent_on_a_call.end_call(actor="agent", at=at(9))

    [ended] = agent_on_a_call.collect_events()
    assert isinstance(ended, Agent.CallEnded)
    assert resumed == ended.resumed_interaction_id == X
    assert (agent_on_a_call.on_call, agent_on_a_call.parked_for_call) == (False, None)


def test_ending_the_call_resumes_nothing_once_the_email_is_gone(agent_on_a_call: Agent) -> None:
    agent_on_a_call.track(X, owned=False, active=False, actor="supervisor", at=at(5))
    agent_on_a_call.collect_events()

    assert agent_on_a_call.end_call(actor="agent", at=at(9)) is None
    assert recorded(agent_on_a_call) == ["CallEnded"]


def test_ending_the_call_resumes_nothing_if_another_email_is_active(
    agent_on_a_call: Agent,
) -> None:
    agent_on_a_call.track(Y, owned=True, active=True, actor="agent", at=at(5))
    agent_on_a_call.collect_events()

    assert agent_on_a_call.end_call(actor="agent", at=at(9)) is None


def test_ending_a_call_that_never_started_is_refused(logged_in_agent: Agent) -> None:
    with refused(logged_in_agent, RuleViolated):
        logged_in_agent.end_call(actor="agent", at=at(2))


# --- workload ------------------------------------------------------------------------------


def test_taking_an_email_makes_it_held_and_active(logged_in_agent: Agent) -> None:
    logged_in_agent.track(X, owned=True, active=True, actor="agent", at=at(3))

    [changed] = logged_in_agent.collect_events()
    assert isinstance(changed, Agent.WorkloadChanged)
    assert (changed.held, changed.active, changed.interaction_id) == ([X], X, X)
    assert (logged_in_agent.held, logged_in_agent.active) == ([X], X)


def test_a_second_active_email_replaces_the_first_which_stays_held(busy_agent: Agent) -> None:
    busy_agent.track(Y, owned=True, active=True, actor="agent", at=at(4))

    assert recorded(busy_agent) == ["WorkloadChanged"]
    assert (busy_agent.held, busy_agent.active) == ([X, Y], Y)


def test_parking_keeps_the_email_held_but_not_active(busy_agent: Agent) -> None:
    busy_agent.track(X, owned=True, active=False, actor="agent", at=at(4))

    assert recorded(busy_agent) == ["WorkloadChanged"]
    assert (busy_agent.held, busy_agent.active) == ([X], None)


def test_losing_an_email_removes_it_from_the_workload(busy_agent: Agent) -> None:
    busy_agent.track(X, owned=False, active=False, actor="agent", at=at(4))

    assert (busy_agent.held, busy_agent.active) == ([], None)


def test_tracking_without_a_change_records_nothing(busy_agent: Agent) -> None:
    busy_agent.track(X, owned=True, active=True, actor="agent", at=at(4))
    busy_agent.track(Y, owned=False, active=False, actor="agent", at=at(4))

    assert recorded(busy_agent) == []


def test_parking_another_email_leaves_the_active_one_alone(busy_agent: Agent) -> None:
    busy_agent.track(Y, owned=True, active=False, actor="supervisor", at=at(4))

    assert recorded(busy_agent) == ["WorkloadChanged"]
    assert (busy_agent.held, busy_agent.active) == ([X, Y], X)
