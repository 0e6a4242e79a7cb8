"""Interaction: given the events so far, when a command, then exactly these events and state.

Fixtures are named after the state they leave and collect their own events, so each test's
`recorded(...)` lists only what its "when" step emitted.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from copy import deepcopy
from datetime import datetime, timedelta
from uuid import uuid4

import pytest
from eventsourcing.domain import Aggregate

from domain.actors import SYSTEM, Actor
from domain.errors import (
    AlreadyTaken,
    DispositionRequired,
    DomainError,
    InvalidInput,
    InvalidTransition,
    NoDraft,
    NotOffered,
    NotOwner,
    OfferedToAnotherAgent,
    RuleViolated,
)
from domain.interaction import Interaction
from domain.messages import InboundEmail, MessageInfo, Status
from tests.fakes import T0

COMPANY, Q1, Q2 = uuid4(), uuid4(), uuid4()
ANN_ID, BOB_ID = uuid4(), uuid4()
ANN, BOB = Actor("agent", ANN_ID), Actor("agent", BOB_ID)
SUE, ADA = Actor("supervisor", uuid4()), Actor("admin", uuid4())
MINUTE_MS = 60_000


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


def inbound(n: int, sender: str = "carol@customer.test") -> MessageInfo:
    return InboundEmail(
        rfc_message_id=f"<{n}@customer.test>",
        sender=sender,
        to=("support@acme.test",),
        subject="Invoice 42",
    ).info(uuid4())


def outbound(n: int, to: str = "dave@supplier.test") -> MessageInfo:
    return MessageInfo(
        record_id=f"out-{n}",
        rfc_message_id=f"<out-{n}@acme.test>",
        direction="out",
        sender="support@acme.test",
        sender_name="Acme",
        to=[to],
        cc=[],
        subject="Re: Invoice",
        snippet="",
        blob="",
        attachments=[],
    )


@pytest.fixture
def received_interaction() -> Interaction:
    interaction = Interaction(
        id=uuid4(),
        company_id=COMPANY,
        mailbox="support@acme.test",
        message=inbound(1),
        continues=None,
        actor="customer",
        timestamp=at(0),
    )
    interaction.collect_events()
    return interaction


@pytest.fixture
def queued_interaction(received_interaction: Interaction) -> Interaction:
    received_interaction.route(Q1, None, 0, "mailbox default", at=at(0))
    received_interaction.collect_events()
    return received_interaction


@pytest.fixture
def offered_interaction(queued_interaction: Interaction) -> Interaction:
    queued_interaction.offer(ANN_ID, {"why": "longest idle"}, at=at(0.5))
    queued_interaction.collect_events()
    return queued_interaction


@pytest.fixture
def active_interaction(queued_interaction: Interaction) -> Interaction:
    """Accepted by Ann one minute after arrival."""
    queued_interaction.accept(ANN, at=at(1))
    queued_interaction.collect_events()
    return queued_interaction


@pytest.fixture
def parked_interaction(active_interaction: Interaction) -> Interaction:
    """Ann worked on it for three minutes, then parked it."""
    active_interaction.park(ANN, at=at(4))
    active_interaction.collect_events()
    return active_interaction


@pytest.fixture
def closed_interaction(active_interaction: Interaction) -> Interaction:
    active_interaction.close(["Resolved"], ANN, required=True, at=at(6))
    active_interaction.collect_events()
    return active_interaction


# --- arrival, routing, offers -----------------------------------------------------------


def test_a_received_email_is_unread_and_waits_for_routing() -> None:
    interaction = Interaction(
        id=uuid4(),
        company_id=COMPANY,
        mailbox="support@acme.test",
        message=inbound(1, sender="Carol@Customer.TEST"),
        continues=None,
        actor="customer",
        timestamp=at(0),
    )

    assert recorded(interaction) == ["Received"]
    assert interaction.status == Status.RECEIVED
    assert (interaction.owner, interaction.queue_id, interaction.unread) == (None, None, True)
    assert interaction.participants == ["carol@customer.test"]


def test_routing_puts_the_interaction_in_its_queue(received_interaction: Interaction) -> None:
    received_interaction.route(Q2, "rule-1", 3, "subject contains invoice", at=at(0))

    assert recorded(received_interaction) == ["Routed"]
    assert (received_interaction.status, received_interaction.queue_id) == (Status.QUEUED, Q2)


def test_an_interaction_is_routed_only_once(queued_interaction: Interaction) -> None:
    with refused(queued_interaction, InvalidTransition):
        queued_interaction.route(Q2, None, 0, "again", at=at(1))


def test_nobody_can_accept_an_email_before_it_is_routed(received_interaction: Interaction) -> None:
    with refused(received_interaction, InvalidTransition):
        received_interaction.accept(ANN, at=at(1))


def test_an_offer_reserves_the_interaction_for_one_agent(queued_interaction: Interaction) -> None:
    queued_interaction.offer(BOB_ID, {"why": "last handled sender"}, at=at(1))

    assert recorded(queued_interaction) == ["Offered"]
    assert (queued_interaction.status, queued_interaction.offered_to) == (Status.OFFERED, BOB_ID)


def test_an_offered_interaction_is_not_offered_again(offered_interaction: Interaction) -> None:
    with refused(offered_interaction, InvalidTransition):
        offered_interaction.offer(BOB_ID, {}, at=at(1))


def test_the_offered_agent_accepts_and_owns_the_interaction(
    offered_interaction: Interaction,
) -> None:
    offered_interaction.accept(ANN, at=at(1))

    assert recorded(offered_interaction) == ["Accepted"]
    assert offered_interaction.status == Status.ACTIVE
    assert (offered_interaction.owner, offered_interaction.offered_to) == (ANN_ID, None)
    assert (offered_interaction.unread, offered_interaction.first_agent) == (False, ANN_ID)


def test_an_offer_made_to_another_agent_cannot_be_accepted(
    offered_interaction: Interaction,
) -> None:
    with refused(offered_interaction, OfferedToAnotherAgent):
        offered_interaction.accept(BOB, at=at(1))


def test_rejecting_an_offer_requeues_it_and_remembers_who_rejected(
    offered_interaction: Interaction,
) -> None:
    offered_interaction.reject_offer(ANN, at=at(1))

    assert recorded(offered_interaction) == ["OfferRejected"]
    assert (offered_interaction.status, offered_interaction.offered_to) == (Status.QUEUED, None)
    assert offered_interaction.rejected_by == [ANN_ID]
    with refused(offered_interaction, RuleViolated):
        offered_interaction.offer(ANN_ID, {}, at=at(2))


def test_only_the_agent_it_is_offered_to_can_reject_it(offered_interaction: Interaction) -> None:
    with refused(offered_interaction, NotOffered):
        offered_interaction.reject_offer(BOB, at=at(1))


def test_a_queued_interaction_has_no_offer_to_reject(queued_interaction: Interaction) -> None:
    with refused(queued_interaction, InvalidTransition):
        queued_interaction.reject_offer(ANN, at=at(1))


def test_an_expired_offer_requeues_it_with_only_an_offer_expired_event(
    offered_interaction: Interaction,
) -> None:
    offered_interaction.expire_offer(at=at(2))

    assert recorded(offered_interaction) == ["OfferExpired"]
    assert (offered_interaction.status, offered_interaction.rejected_by) == (
        Status.QUEUED,
        [ANN_ID],
    )


# --- accepting --------------------------------------------------------------------------


def test_an_agent_accepts_straight_from_the_queue(queued_interaction: Interaction) -> None:
    queued_interaction.accept(BOB, at=at(1))

    assert recorded(queued_interaction) == ["Accepted"]
    assert (queued_interaction.status, queued_interaction.owner) == (Status.ACTIVE, BOB_ID)


@pytest.mark.parametrize("state", ["active_interaction", "parked_interaction"])
def test_an_interaction_another_agent_owns_is_already_taken(
    state: str, request: pytest.FixtureRequest
) -> None:
    interaction: Interaction = request.getfixturevalue(state)

    with refused(interaction, AlreadyTaken):
        interaction.accept(BOB, at=at(5))


def test_the_owner_cannot_accept_an_interaction_twice(active_interaction: Interaction) -> None:
    with refused(active_interaction, InvalidTransition):
        active_interaction.accept(ANN, at=at(2))


def test_a_closed_interaction_cannot_be_accepted(closed_interaction: Interaction) -> None:
    with refused(closed_interaction, InvalidTransition):
        closed_interaction.accept(BOB, at=at(7))


# --- parking, resuming and handling time ------------------------------------------------


def test_parking_keeps_ownership_and_ends_the_handling_segment(
    active_interaction: Interaction,
) -> None:
    active_interaction.park(ANN, at=at(4))

    [parked] = active_interaction.collect_events()
    assert isinstance(parked, Interaction.Parked)
    assert (parked.segment_started_at, parked.segment_ms) == (at(1), 3 * MINUTE_MS)
    assert (active_interaction.status, active_interaction.owner) == (Status.PARKED, ANN_ID)
    assert active_interaction.handling_ms == 3 * MINUTE_MS


def test_parked_time_is_not_handling_time(parked_interaction: Interaction) -> None:
    parked_interaction.resume(ANN, at=at(30))
    parked_interaction.park(ANN, at=at(32))

    assert recorded(parked_interaction) == ["Resumed", "Parked"]
    assert parked_interaction.handling_ms == 5 * MINUTE_MS  # 3 before parking, 2 after
    assert parked_interaction.handling_ms_at(at(60)) == 5 * MINUTE_MS


def test_the_running_segment_counts_only_in_live_handling_time(
    active_interaction: Interaction,
) -> None:
    assert active_interaction.handling_ms == 0
    assert active_interaction.handling_ms_at(at(11)) == 10 * MINUTE_MS


def test_handling_time_is_the_sum_of_active_segments_across_owners(
    active_interaction: Interaction,
) -> None:
    active_interaction.park(ANN, at=at(4))  # 3 min
    active_interaction.resume(ANN, at=at(10))
    active_interaction.transfer_to_agent(BOB_ID, ANN, at=at(12))
    active_interaction.resume(BOB, at=at(20))  # 2 min, then 8 parked at Bob's
    active_interaction.close(["Resolved"], BOB, required=True, at=at(25))  # 5 min

    assert recorded(active_interaction) == ["Parked", "Resumed", "Transferred", "Resumed", "Closed"]
    assert active_interaction.handling_ms == 10 * MINUTE_MS


def test_another_agent_cannot_park_what_ann_works_on(active_interaction: Interaction) -> None:
    with refused(active_interaction, NotOwner):
        active_interaction.park(BOB, at=at(2))


def test_another_agent_cannot_resume_what_ann_parked(parked_interaction: Interaction) -> None:
    with refused(parked_interaction, NotOwner):
        parked_interaction.resume(BOB, at=at(5))


def test_the_system_parks_an_agents_email_for_them(active_interaction: Interaction) -> None:
    active_interaction.park(SYSTEM, at=at(2))

    assert recorded(active_interaction) == ["Parked"]
    assert (active_interaction.status, active_interaction.owner) == (Status.PARKED, ANN_ID)


def test_parking_twice_or_resuming_an_active_email_is_an_invalid_transition(
    parked_interaction: Interaction,
) -> None:
    with refused(parked_interaction, InvalidTransition):
        parked_interaction.park(ANN, at=at(5))
    parked_interaction.resume(ANN, at=at(6))
    parked_interaction.collect_events()
    with refused(parked_interaction, InvalidTransition):
        parked_interaction.resume(ANN, at=at(7))


# --- transfer and return ----------------------------------------------------------------


def test_a_transfer_to_an_agent_makes_them_owner_with_the_email_parked(
    active_interaction: Interaction,
) -> None:
    active_interaction.transfer_to_agent(BOB_ID, ANN, at=at(3))

    [transferred] = active_interaction.collect_events()
    assert isinstance(transferred, Interaction.Transferred)
    assert (transferred.from_agent_id, transferred.to_agent_id) == (ANN_ID, BOB_ID)
    assert transferred.segment_ms == 2 * MINUTE_MS
    assert (active_interaction.status, active_interaction.owner) == (Status.PARKED, BOB_ID)
    assert active_interaction.handling_ms == 2 * MINUTE_MS


def test_a_supervisor_hands_a_queued_email_to_an_agent(queued_interaction: Interaction) -> None:
    queued_interaction.transfer_to_agent(BOB_ID, SUE, at=at(3))

    assert recorded(queued_interaction) == ["Transferred"]
    assert (queued_interaction.status, queued_interaction.owner) == (Status.PARKED, BOB_ID)
    assert queued_interaction.handling_ms == 0


def test_transferring_to_the_current_owner_is_refused(active_interaction: Interaction) -> None:
    with refused(active_interaction, RuleViolated):
        active_interaction.transfer_to_agent(ANN_ID, SUE, at=at(3))


def test_an_agent_transfers_only_what_they_own(active_interaction: Interaction) -> None:
    with refused(active_interaction, NotOwner):
        active_interaction.transfer_to_queue(Q2, BOB, at=at(3))
    with refused(active_interaction, NotOwner):
        active_interaction.transfer_to_agent(BOB_ID, BOB, at=at(3))


@pytest.mark.parametrize("state", ["received_interaction", "closed_interaction"])
def test_received_or_closed_interactions_cannot_be_transferred(
    state: str, request: pytest.FixtureRequest
) -> None:
    interaction: Interaction = request.getfixturevalue(state)

    with refused(interaction, InvalidTransition):
        interaction.transfer_to_queue(Q2, SUE, at=at(8))
    with refused(interaction, InvalidTransition):
        interaction.transfer_to_agent(BOB_ID, SUE, at=at(8))


def test_a_transfer_to_a_queue_leaves_it_queued_and_unowned(
    active_interaction: Interaction,
) -> None:
    active_interaction.transfer_to_queue(Q2, ANN, at=at(5))

    assert recorded(active_interaction) == ["Transferred"]
    assert active_interaction.status == Status.QUEUED
    assert (active_interaction.queue_id, active_interaction.owner) == (Q2, None)
    assert active_interaction.handling_ms == 4 * MINUTE_MS


def test_a_supervisor_moves_an_offered_email_to_another_queue(
    offered_interaction: Interaction,
) -> None:
    offered_interaction.transfer_to_queue(Q2, SUE, at=at(1))

    assert recorded(offered_interaction) == ["Transferred"]
    assert (offered_interaction.queue_id, offered_interaction.offered_to) == (Q2, None)


def test_a_transfer_to_the_queue_it_already_waits_in_is_refused(
    queued_interaction: Interaction,
) -> None:
    with refused(queued_interaction, RuleViolated):
        queued_interaction.transfer_to_queue(Q1, SUE, at=at(1))


def test_returning_to_the_queue_releases_it_into_its_own_queue(
    parked_interaction: Interaction,
) -> None:
    parked_interaction.return_to_queue(ANN, at=at(10))

    [returned] = parked_interaction.collect_events()
    assert isinstance(returned, Interaction.ReturnedToQueue)
    assert returned.segment_ms == 0  # parked: no running segment
    assert (parked_interaction.status, parked_interaction.queue_id) == (Status.QUEUED, Q1)
    assert parked_interaction.owner is None
    assert parked_interaction.handling_ms == 3 * MINUTE_MS


def test_a_waiting_interaction_cannot_be_returned(queued_interaction: Interaction) -> None:
    with refused(queued_interaction, InvalidTransition):
        queued_interaction.return_to_queue(SUE, at=at(1))


def test_only_the_owner_returns_an_interaction(active_interaction: Interaction) -> None:
    with refused(active_interaction, NotOwner):
        active_interaction.return_to_queue(BOB, at=at(2))


# --- the conversation: customer messages, replies, notes ---------------------------------


def test_a_customer_message_marks_the_interaction_unread(active_interaction: Interaction) -> None:
    active_interaction.receive_message(inbound(2), at=at(2))

    assert recorded(active_interaction) == ["MessageReceived"]
    assert active_interaction.unread is True
    assert active_interaction.message_ids == ["<1@customer.test>", "<2@customer.test>"]


def test_a_customer_message_clears_the_substatus(active_interaction: Interaction) -> None:
    active_interaction.set_substatus("Pending", ANN, at=at(2))
    active_interaction.collect_events()

    active_interaction.receive_message(inbound(2), at=at(3))

    assert recorded(active_interaction) == ["SubstatusCleared", "MessageReceived"]
    assert active_interaction.substatus is None


def test_the_same_customer_message_is_not_added_twice(active_interaction: Interaction) -> None:
    with refused(active_interaction, RuleViolated):
        active_interaction.receive_message(inbound(1), at=at(2))


def test_a_closed_interaction_takes_no_more_customer_messages(
    closed_interaction: Interaction,
) -> None:
    with refused(closed_interaction, InvalidTransition):
        closed_interaction.receive_message(inbound(2), at=at(7))


def test_a_reply_waits_in_the_outbox_until_the_server_accepts_it(
    active_interaction: Interaction,
) -> None:
    active_interaction.queue_reply(outbound(1), ANN, forward=False, at=at(2))
    assert recorded(active_interaction) == ["ReplyQueued"]
    assert active_interaction.outbox == ["out-1"]
    assert active_interaction.participants == ["carol@customer.test", "dave@supplier.test"]

    active_interaction.record_sent("out-1", "250 OK", forward=False, at=at(3))

    assert recorded(active_interaction) == ["ReplySent"]
    assert active_interaction.outbox == []


def test_a_forward_adds_no_participant_and_can_fail(active_interaction: Interaction) -> None:
    active_interaction.queue_reply(outbound(1), ANN, forward=True, at=at(2))
    active_interaction.queue_reply(outbound(2), ANN, forward=True, at=at(2))
    active_interaction.record_sent("out-1", "250 OK", forward=True, at=at(3))
    active_interaction.record_send_failed("out-2", "550 no such user", at=at(3))

    assert recorded(active_interaction) == [
        "ForwardQueued",
        "ForwardQueued",
        "ForwardSent",
        "SendFailed",
    ]
    assert active_interaction.participants == ["carol@customer.test"]
    assert active_interaction.outbox == []


def test_only_a_message_in_the_outbox_can_be_sent_or_fail(active_interaction: Interaction) -> None:
    with refused(active_interaction, RuleViolated):
        active_interaction.record_sent("out-9", "250 OK", forward=False, at=at(3))
    with refused(active_interaction, RuleViolated):
        active_interaction.record_send_failed("out-9", "550", at=at(3))


def test_only_the_owner_replies_and_only_while_working_on_it(
    active_interaction: Interaction,
) -> None:
    with refused(active_interaction, NotOwner):
        active_interaction.queue_reply(outbound(1), BOB, forward=False, at=at(2))
    active_interaction.park(ANN, at=at(3))
    active_interaction.collect_events()
    with refused(active_interaction, InvalidTransition):
        active_interaction.queue_reply(outbound(1), ANN, forward=False, at=at(4))


def test_anyone_of_the_company_adds_an_internal_note(queued_interaction: Interaction) -> None:
    queued_interaction.add_note(uuid4(), "  customer called too  ", SUE, at=at(1))

    [note] = queued_interaction.collect_events()
    assert isinstance(note, Interaction.NoteAdded)
    assert (note.text, note.actor) == ("customer called too", str(SUE))


@pytest.mark.parametrize("text", ["", "   ", "x" * 10_001])
def test_a_note_is_one_to_ten_thousand_characters(
    text: str, active_interaction: Interaction
) -> None:
    with refused(active_interaction, InvalidInput):
        active_interaction.add_note(uuid4(), text, ANN, at=at(2))


# --- drafts ------------------------------------------------------------------------------


def test_the_owner_saves_a_draft_that_names_its_author(active_interaction: Interaction) -> None:
    active_interaction.save_draft({"body_text": "Dear Carol"}, ANN, at=at(2))

    assert recorded(active_interaction) == ["DraftSaved"]
    assert active_interaction.draft == {
        "body_text": "Dear Carol",
        "agent_id": str(ANN_ID),
        "saved_at": at(2).isoformat(),
    }


def test_a_new_draft_replaces_the_old_one(active_interaction: Interaction) -> None:
    active_interaction.save_draft({"body_text": "Dear Carol"}, ANN, at=at(2))
    active_interaction.save_draft({"body_text": "Hello Carol"}, ANN, at=at(3))

    assert recorded(active_interaction) == ["DraftSaved", "DraftSaved"]
    assert active_interaction.draft is not None
    assert active_interaction.draft["body_text"] == "Hello Carol"


@pytest.mark.parametrize("someone_else", [BOB, SUE])
def test_nobody_but_the_owner_saves_a_draft(
    someone_else: Actor, active_interaction: Interaction
) -> None:
    with refused(active_interaction, NotOwner):
        active_interaction.save_draft({"body_text": "x"}, someone_else, at=at(2))


def test_a_waiting_interaction_has_no_draft(queued_interaction: Interaction) -> None:
    with refused(queued_interaction, InvalidTransition):
        queued_interaction.save_draft({"body_text": "x"}, ANN, at=at(1))


def test_only_its_author_discards_a_draft(active_interaction: Interaction) -> None:
    active_interaction.save_draft({"body_text": "Dear Carol"}, ANN, at=at(2))
    active_interaction.collect_events()
    with refused(active_interaction, NoDraft):
        active_interaction.discard_draft(SUE, at=at(3))

    active_interaction.discard_draft(ANN, at=at(3))

    [discarded] = active_interaction.collect_events()
    assert isinstance(discarded, Interaction.DraftDiscarded)
    assert (discarded.agent_id, discarded.reason) == (ANN_ID, "discarded")
    assert active_interaction.draft is None


def test_discarding_when_there_is_no_draft_is_refused(active_interaction: Interaction) -> None:
    with refused(active_interaction, NoDraft):
        active_interaction.discard_draft(ANN, at=at(2))


def test_the_draft_stays_with_its_author_after_a_transfer(active_interaction: Interaction) -> None:
    active_interaction.save_draft({"body_text": "Dear Carol"}, ANN, at=at(2))
    active_interaction.transfer_to_agent(BOB_ID, ANN, at=at(3))
    active_interaction.collect_events()

    with refused(active_interaction, NoDraft):
        active_interaction.discard_draft(BOB, at=at(4))
    active_interaction.discard_draft(ANN, at=at(4))
    assert recorded(active_interaction) == ["DraftDiscarded"]


def test_closing_discards_the_draft(active_interaction: Interaction) -> None:
    active_interaction.save_draft({"body_text": "Dear Carol"}, ANN, at=at(2))
    active_interaction.collect_events()

    active_interaction.close(["Resolved"], ANN, required=True, at=at(3))

    discarded, closed = active_interaction.collect_events()
    assert isinstance(discarded, Interaction.DraftDiscarded)
    assert (discarded.agent_id, discarded.reason) == (ANN_ID, "closed")
    assert isinstance(closed, Interaction.Closed)
    assert active_interaction.draft is None


# --- sub-status, tags, unread -------------------------------------------------------------


def test_the_owner_sets_and_clears_a_substatus(active_interaction: Interaction) -> None:
    active_interaction.set_substatus("Pending", ANN, at=at(2))
    assert recorded(active_interaction) == ["SubstatusSet"]
    assert active_interaction.substatus == "Pending"

    active_interaction.clear_substatus(ANN, at=at(3))

    assert recorded(active_interaction) == ["SubstatusCleared"]
    assert active_interaction.substatus is None


def test_another_agent_cannot_set_or_clear_the_substatus(active_interaction: Interaction) -> None:
    with refused(active_interaction, NotOwner):
        active_interaction.set_substatus("Pending", BOB, at=at(2))
    active_interaction.set_substatus("Pending", SUE, at=at(2))  # a supervisor may
    active_interaction.collect_events()
    with refused(active_interaction, NotOwner):
        active_interaction.clear_substatus(BOB, at=at(3))


def test_clearing_without_a_substatus_is_refused(active_interaction: Interaction) -> None:
    with refused(active_interaction, RuleViolated):
        active_interaction.clear_substatus(ANN, at=at(2))


@pytest.mark.parametrize("state", ["received_interaction", "closed_interaction"])
def test_no_substatus_before_routing_or_after_closing(
    state: str, request: pytest.FixtureRequest
) -> None:
    interaction: Interaction = request.getfixturevalue(state)

    with refused(interaction, InvalidTransition):
        interaction.set_substatus("Pending", SUE, at=at(8))


def test_tagging_adds_each_new_tag_once(active_interaction: Interaction) -> None:
    active_interaction.tag([" vip ", "refund", "vip"], ANN, at=at(2))
    active_interaction.tag(["refund", "urgent"], BOB, at=at(3))

    assert recorded(active_interaction) == ["Tagged", "Tagged", "Tagged"]
    assert active_interaction.tags == ["vip", "refund", "urgent"]


def test_untagging_removes_only_tags_it_has(active_interaction: Interaction) -> None:
    active_interaction.tag(["vip", "refund"], ANN, at=at(2))
    active_interaction.collect_events()

    active_interaction.untag(["refund", "never-set"], ANN, at=at(3))

    assert recorded(active_interaction) == ["Untagged"]
    assert active_interaction.tags == ["vip"]


@pytest.mark.parametrize("tags", [[""], ["x" * 51]])
def test_a_tag_is_one_to_fifty_characters(tags: list[str], active_interaction: Interaction) -> None:
    with refused(active_interaction, InvalidInput):
        active_interaction.tag(tags, ANN, at=at(2))


def test_a_tag_list_with_one_invalid_tag_records_nothing(active_interaction: Interaction) -> None:
    with refused(active_interaction, InvalidInput):
        active_interaction.tag(["vip", ""], ANN, at=at(2))


def test_marking_unread_and_read_records_only_changes(active_interaction: Interaction) -> None:
    active_interaction.mark_read(ANN, at=at(2))  # already read since accepted
    active_interaction.mark_unread(ANN, at=at(3))
    active_interaction.mark_unread(ANN, at=at(4))
    assert recorded(active_interaction) == ["MarkedUnread"]
    assert active_interaction.unread is True

    active_interaction.mark_read(ANN, at=at(5))

    assert recorded(active_interaction) == ["MarkedRead"]
    assert active_interaction.unread is False


# --- closing and reopening ----------------------------------------------------------------


def test_the_owner_closes_with_a_disposition(active_interaction: Interaction) -> None:
    active_interaction.close(["Resolved", "Refund"], ANN, required=True, at=at(6))

    [closed] = active_interaction.collect_events()
    assert isinstance(closed, Interaction.Closed)
    assert (closed.agent_id, closed.queue_id, closed.segment_ms) == (ANN_ID, Q1, 5 * MINUTE_MS)
    assert active_interaction.status == Status.CLOSED
    assert active_interaction.disposition == ["Resolved", "Refund"]
    assert active_interaction.handling_ms == 5 * MINUTE_MS
    assert not active_interaction.is_open


def test_closing_without_a_disposition_is_refused_when_one_is_required(
    active_interaction: Interaction,
) -> None:
    with refused(active_interaction, DispositionRequired):
        active_interaction.close([], ANN, required=True, at=at(6))


def test_closing_without_a_disposition_is_allowed_when_optional(
    parked_interaction: Interaction,
) -> None:
    parked_interaction.close([], ANN, required=False, at=at(30))

    assert recorded(parked_interaction) == ["Closed"]
    assert parked_interaction.handling_ms == 3 * MINUTE_MS  # parked time not counted


def test_an_agent_closes_only_what_they_own(active_interaction: Interaction) -> None:
    with refused(active_interaction, NotOwner):
        active_interaction.close(["Resolved"], BOB, required=True, at=at(6))


def test_a_supervisor_closes_an_email_nobody_took(queued_interaction: Interaction) -> None:
    with refused(queued_interaction, NotOwner):
        queued_interaction.close(["Spam"], ANN, required=True, at=at(1))

    queued_interaction.close(["Spam"], SUE, required=True, at=at(1))

    assert recorded(queued_interaction) == ["Closed"]
    assert queued_interaction.status == Status.CLOSED


@pytest.mark.parametrize("state", ["received_interaction", "closed_interaction"])
def test_a_received_or_closed_interaction_cannot_be_closed(
    state: str, request: pytest.FixtureRequest
) -> None:
    interaction: Interaction = request.getfixturevalue(state)

    with refused(interaction, InvalidTransition):
        interaction.close(["Resolved"], SUE, required=True, at=at(8))


def test_a_closed_interaction_has_no_owner(closed_interaction: Interaction) -> None:
    assert closed_interaction.owner is None


@pytest.mark.parametrize("reopener", [ADA, SUE])
def test_reopening_by_anyone_but_an_agent_puts_it_back_unassigned_and_unread(
    reopener: Actor, closed_interaction: Interaction
) -> None:
    closed_interaction.reopen(reopener, at=at(60))

    [reopened] = closed_interaction.collect_events()
    assert isinstance(reopened, Interaction.Reopened)
    assert (reopened.agent_id, reopened.queue_id) == (None, Q1)
    assert closed_interaction.status == Status.QUEUED
    assert (closed_interaction.owner, closed_interaction.queue_id) == (None, Q1)
    assert (closed_interaction.unread, closed_interaction.disposition) == (True, None)


def test_reopening_by_an_agent_puts_it_in_their_hands_and_restarts_the_timer(
    closed_interaction: Interaction,
) -> None:
    closed_interaction.reopen(BOB, at=at(60))

    assert recorded(closed_interaction) == ["Reopened"]
    assert closed_interaction.status == Status.ACTIVE
    assert closed_interaction.owner == BOB_ID
    assert closed_interaction.disposition is None
    assert closed_interaction.handling_ms_at(at(62)) == (5 + 2) * MINUTE_MS


def test_reopening_clears_the_substatus(active_interaction: Interaction) -> None:
    active_interaction.set_substatus("Pending", ANN, at=at(2))
    active_interaction.close(["Resolved"], ANN, required=True, at=at(3))
    active_interaction.collect_events()

    active_interaction.reopen(ADA, at=at(9))

    assert active_interaction.substatus is None


@pytest.mark.parametrize("state", ["queued_interaction", "active_interaction"])
def test_only_a_closed_interaction_can_be_reopened(
    state: str, request: pytest.FixtureRequest
) -> None:
    interaction: Interaction = request.getfixturevalue(state)

    with refused(interaction, InvalidTransition):
        interaction.reopen(ADA, at=at(8))


def test_a_closed_interaction_links_once_to_its_continuation(
    closed_interaction: Interaction,
) -> None:
    follow_up = uuid4()
    closed_interaction.link_continuation(follow_up, at=at(30))

    assert recorded(closed_interaction) == ["ContinuedIn"]
    assert closed_interaction.continued_in == follow_up
    with refused(closed_interaction, RuleViolated):
        closed_interaction.link_continuation(uuid4(), at=at(31))


def test_an_open_interaction_does_not_continue_elsewhere(active_interaction: Interaction) -> None:
    with refused(active_interaction, InvalidTransition):
        active_interaction.link_continuation(uuid4(), at=at(2))


def test_an_agent_starts_an_outbound_email_active_and_owned() -> None:
    interaction = Interaction.start_outbound(
        uuid4(),
        COMPANY,
        mailbox="support@acme.test",
        queue_id=Q2,
        agent_id=ANN_ID,
        message=outbound(1),
        actor=ANN,
        at=at(0),
    )

    assert recorded(interaction) == ["Started"]
    assert (interaction.status, interaction.owner, interaction.queue_id) == (
        Status.ACTIVE,
        ANN_ID,
        Q2,
    )
    assert (interaction.unread, interaction.participants) == (False, ["dave@supplier.test"])
    assert interaction.handling_ms_at(at(4)) == 4 * MINUTE_MS


def test_the_history_of_a_worked_email_reads_as_its_events(
    received_interaction: Interaction,
) -> None:
    received_interaction.route(Q1, None, 0, "mailbox default", at=at(0))
    received_interaction.offer(ANN_ID, {}, at=at(0))
    received_interaction.accept(ANN, at=at(1))
    received_interaction.close(["Resolved"], ANN, required=True, at=at(2))

    assert recorded(received_interaction) == ["Routed", "Offered", "Accepted", "Closed"]
    assert received_interaction.version == 5
