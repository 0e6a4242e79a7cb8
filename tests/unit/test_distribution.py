"""Distribution policy: who may be offered an email, who is, and the reason recorded for it."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from uuid import UUID, uuid4

import pytest

from domain.agent import Agent
from domain.company import Company
from domain.distribution import (
    ABSENT,
    FULL,
    LOGGED_OUT,
    OFFER_PENDING,
    ON_CALL,
    PAUSED,
    REJECTED,
    AgentState,
    DistributionSettings,
    LastHandler,
    choose,
    exclusion,
    replayed_choice,
    round_is_over,
)
from domain.errors import AgentUnavailable, InvalidInput
from tests.fakes import T0

QUEUE, OTHER_QUEUE = uuid4(), uuid4()
DEFAULTS = DistributionSettings()


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def agent(idle_minutes_ago: float = 0, **overrides: object) -> AgentState:
    values: dict[str, object] = {
        "agent_id": uuid4(),
        "queue_ids": frozenset({QUEUE}),
        "capacity": 2,
        "idle_since": at(-idle_minutes_ago),
    }
    values.update(overrides)
    return AgentState(**values)  # type: ignore[arg-type]


def test_the_longest_idle_agent_is_chosen_and_the_reason_lists_every_candidate() -> None:
    recent, longest, middle = agent(1), agent(30), agent(10)

    decision = choose(QUEUE, [recent, longest, middle], DEFAULTS, now=at(0))

    assert decision.agent_id == longest.agent_id
    assert decision.reason["rule"] == "longest-idle"
    ranked = [c["agent_id"] for c in decision.reason["candidates"]]
    assert ranked == [str(a.agent_id) for a in (longest, middle, recent)]
    assert decision.reason["candidate_count"] == 3


@pytest.mark.parametrize(
    ("overrides", "why"),
    [
        ({"logged_in": False}, LOGGED_OUT),
        ({"present": False}, ABSENT),
        ({"paused": True}, PAUSED),
        ({"on_call": True}, ON_CALL),
        ({"offer_pending": True}, OFFER_PENDING),
        ({"held": 2}, FULL),
    ],
)
def test_an_unavailable_agent_is_never_chosen_and_the_reason_says_why(
    overrides: dict[str, object], why: str
) -> None:
    unavailable, available = agent(60, **overrides), agent(1)

    decision = choose(QUEUE, [unavailable, available], DEFAULTS, now=at(0))

    assert decision.agent_id == available.agent_id
    assert decision.reason["excluded"] == {str(unavailable.agent_id): why}


def test_nobody_is_chosen_when_nobody_is_eligible_and_non_members_are_not_listed() -> None:
    outsider = agent(60, queue_ids=frozenset({OTHER_QUEUE}))
    decision = choose(QUEUE, [outsider, agent(5, paused=True)], DEFAULTS, now=at(0))

    assert decision.agent_id is None
    assert (decision.reason["rule"], decision.reason["excluded_count"]) == ("none", 1)


def test_parked_email_counts_toward_capacity_only_when_the_company_says_so() -> None:
    all_parked = agent(held=2, parked=2)
    lenient = replace(DEFAULTS, parked_count_toward_capacity=False)

    assert exclusion(all_parked, QUEUE, DEFAULTS, []) == FULL
    assert exclusion(all_parked, QUEUE, lenient, []) is None
    assert exclusion(agent(held=2, parked=1), QUEUE, lenient, []) is None
    assert exclusion(agent(capacity=1, held=1), QUEUE, lenient, []) == FULL


def test_an_agent_who_rejected_it_is_skipped_for_the_rest_of_the_round() -> None:
    rejecter, other = agent(60), agent(1)

    decision = choose(
        QUEUE, [rejecter, other], DEFAULTS, rejected_by=[rejecter.agent_id], now=at(0)
    )

    assert decision.agent_id == other.agent_id
    assert decision.reason["excluded"] == {str(rejecter.agent_id): REJECTED}


def test_the_last_agent_of_the_sender_wins_over_the_longest_idle_within_the_window() -> None:
    longest, last = agent(60), agent(1)
    handled = LastHandler(last.agent_id, at(-60 * 24))

    decision = choose(QUEUE, [longest, last], DEFAULTS, last_handler=handled, now=at(0))

    assert decision.agent_id == last.agent_id
    assert decision.reason["rule"] == "sticky-sender"
    assert decision.reason["sticky"]["applies"] is True


def test_sticky_sender_gives_way_when_the_last_agent_is_not_eligible() -> None:
    longest, last = agent(60), agent(1, paused=True)
    handled = LastHandler(last.agent_id, at(-5))

    decision = choose(QUEUE, [longest, last], DEFAULTS, last_handler=handled, now=at(0))

    assert decision.agent_id == longest.agent_id
    assert decision.reason["sticky"] == {
        "agent_id": str(last.agent_id),
        "handled_at": at(-5).isoformat(),
        "eligible": False,
        "within_window": True,
        "applies": False,
    }


@pytest.mark.parametrize("window", [0, 3600])
def test_sticky_sender_gives_way_outside_the_window_or_when_turned_off(window: int) -> None:
    longest, last = agent(60 * 24 * 3), agent(1)
    settings = replace(DEFAULTS, sticky_window_seconds=window)
    handled = LastHandler(last.agent_id, at(-120))

    decision = choose(QUEUE, [longest, last], settings, last_handler=handled, now=at(0))

    assert decision.agent_id == longest.agent_id
    assert decision.reason["sticky"]["within_window"] is False


def test_ties_are_broken_by_agent_id_so_the_same_inputs_give_the_same_choice() -> None:
    first, second = sorted([uuid4(), uuid4()], key=str)
    agents = [agent(5, agent_id=second), agent(5, agent_id=first)]

    assert choose(QUEUE, agents, DEFAULTS, now=at(0)).agent_id == first
    assert choose(QUEUE, agents[::-1], DEFAULTS, now=at(0)).agent_id == first


def test_the_recorded_reason_alone_designates_the_chosen_agent() -> None:
    agents = [agent(m, held=m % 3) for m in range(15)]
    handled = LastHandler(agents[3].agent_id, at(-1))
    for last in (None, handled):
        decision = choose(QUEUE, agents, DEFAULTS, last_handler=last, now=at(0))
        assert replayed_choice(decision.reason) == decision.agent_id
        assert len(decision.reason["candidates"]) == 10  # listed; the count is complete
        assert decision.reason["candidate_count"] + decision.reason["excluded_count"] == 15


def test_an_agent_just_offered_something_waits_behind_the_others() -> None:
    offered = agent(60).with_offer(at(0))
    assert offered.offer_pending
    assert offered.idle_since == at(0)


def test_the_round_is_over_when_every_logged_in_member_rejected() -> None:
    a, b = uuid4(), uuid4()
    assert round_is_over([a, b], [a, b])
    assert round_is_over([a], [])
    assert not round_is_over([a], [a, b])
    assert not round_is_over([], [a])


@pytest.mark.parametrize(
    "changes",
    [
        {"offer_timeout_seconds": 1},
        {"sticky_window_seconds": -1},
        {"max_parking_seconds": 10},
        {"inactivity_seconds": 60},
    ],
)
def test_settings_out_of_range_are_refused(changes: dict[str, int]) -> None:
    with pytest.raises(InvalidInput):
        replace(DEFAULTS, **changes).checked()  # type: ignore[arg-type]


def test_a_company_records_its_distribution_settings_as_one_event() -> None:
    company = Company.create(uuid4(), "Acme", "UTC", 10, actor="operator", at=at(0))
    assert company.distribution == DEFAULTS
    wanted = DistributionSettings(30, 0, False, 600, 7200)

    company.set_distribution(wanted, actor="admin:x", at=at(1))

    assert company.distribution == wanted
    assert [type(e).__name__ for e in company.collect_events()] == [
        "Created",
        "DistributionSettingsSet",
    ]


def test_an_offer_is_recorded_on_the_agent_only_while_the_agent_is_available() -> None:
    ann = Agent.register(
        uuid4(),
        uuid4(),
        name="Ann",
        email="a@x.test",
        role="agent",
        queue_ids=[QUEUE],
        capacity=2,
        actor="admin:x",
        at=at(0),
    )
    interaction_id: UUID = uuid4()
    with pytest.raises(AgentUnavailable):
        ann.receive_offer(interaction_id, at=at(1))
    ann.log_in(actor="agent:x", at=at(1))

    ann.receive_offer(interaction_id, at=at(2))

    assert ann.offer == interaction_id
    assert [type(e).__name__ for e in ann.collect_events()][-2:] == ["LoggedIn", "OfferReceived"]
