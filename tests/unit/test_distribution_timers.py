"""Timers read from an interaction's own events, and the end of an offer round."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest

from domain.actors import Actor
from domain.errors import InvalidTransition, RuleViolated
from domain.interaction import Interaction
from domain.timers import (
    awaiting_answer_since,
    disposition_pending_since,
    last_offer,
    parked_since,
)
from tests.fakes import T0
from tests.unit.test_interaction import inbound, outbound

COMPANY, QUEUE = uuid4(), uuid4()
ANN_ID, BOB_ID = uuid4(), uuid4()
ANN = Actor("agent", ANN_ID)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


class Recorded:
    """An interaction and every event it recorded, as the store would give them back."""

    def __init__(self, interaction: Interaction) -> None:
        self.interaction = interaction
        self.events: list[Any] = []

    def __enter__(self) -> Interaction:
        return self.interaction

    def __exit__(self, *exc: object) -> None:
        self.events += self.interaction.collect_events()


@pytest.fixture
def email() -> Recorded:
    interaction = Interaction(
        id=uuid4(),
        company_id=COMPANY,
        mailbox="support@acme.test",
        message=inbound(1),
        continues=None,
        actor="customer",
        timestamp=at(0),
    )
    recorded = Recorded(interaction)
    with recorded as i:
        i.route(QUEUE, None, 0, "mailbox default", at=at(0))
    return recorded


def test_the_standing_offer_is_the_last_one_not_withdrawn(email: Recorded) -> None:
    with email as i:
        i.offer(ANN_ID, {}, at=at(1))
        i.reject_offer(ANN, at=at(2))
    assert last_offer(email.events) is None
    with email as i:
        i.offer(BOB_ID, {}, at=at(3))
    assert last_offer(email.events) == (at(3), email.interaction.version)


def test_disposition_is_pending_from_the_last_reply_until_the_customer_writes(
    email: Recorded,
) -> None:
    with email as i:
        i.accept(ANN, at=at(1))
        i.queue_reply(outbound(1), ANN, forward=False, at=at(2))
        i.queue_reply(outbound(2), ANN, forward=False, at=at(4))
    assert disposition_pending_since(email.events) == at(4)
    with email as i:
        i.receive_message(inbound(2), at=at(5))
    assert disposition_pending_since(email.events) is None


def test_unanswered_outbound_email_waits_from_our_last_message() -> None:
    started = Interaction.start_outbound(
        uuid4(),
        COMPANY,
        mailbox="support@acme.test",
        queue_id=QUEUE,
        agent_id=ANN_ID,
        message=outbound(1),
        actor=ANN,
        at=at(0),
    )
    email = Recorded(started)
    with email as i:
        i.queue_reply(outbound(2), ANN, forward=False, at=at(10))
    assert awaiting_answer_since(email.events) == at(10)
    assert disposition_pending_since(email.events) is None  # nobody wrote to us yet
    with email as i:
        i.receive_message(inbound(3), at=at(11))
    assert awaiting_answer_since(email.events) is None


def test_inbound_email_never_waits_for_an_answer(email: Recorded) -> None:
    with email as i:
        i.accept(ANN, at=at(1))
        i.queue_reply(outbound(1), ANN, forward=False, at=at(2))
    assert awaiting_answer_since(email.events) is None


def test_parking_runs_from_the_last_park_or_transfer_until_resumed(email: Recorded) -> None:
    with email as i:
        i.accept(ANN, at=at(1))
        i.park(ANN, at=at(2))
    assert parked_since(email.events) == at(2)
    with email as i:
        i.resume(ANN, at=at(3))
    assert parked_since(email.events) is None
    with email as i:
        i.transfer_to_agent(BOB_ID, ANN, at=at(4))
    assert parked_since(email.events) == at(4)


def test_ending_an_offer_round_returns_it_to_the_queue_visibly_and_forgets_rejections(
    email: Recorded,
) -> None:
    with email as i:
        i.offer(ANN_ID, {}, at=at(1))
        i.reject_offer(ANN, at=at(2))

    with email as i:
        i.end_offer_round(at=at(3))

    returned = email.events[-1]
    assert isinstance(returned, Interaction.ReturnedToQueue)
    assert (returned.actor, returned.agent_id, returned.queue_id) == ("system", None, QUEUE)
    assert email.interaction.rejected_by == []


def test_a_round_nobody_rejected_or_an_offered_email_cannot_be_ended(email: Recorded) -> None:
    with pytest.raises(RuleViolated):
        email.interaction.end_offer_round(at=at(1))
    email.interaction.offer(ANN_ID, {}, at=at(1))
    with pytest.raises(InvalidTransition):
        email.interaction.end_offer_round(at=at(2))
