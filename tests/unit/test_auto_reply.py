"""Automatic replies as pure decisions, the per-sender ledger, and the interaction's new events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4
from zoneinfo import ZoneInfo

import pytest

from domain.actors import Actor
from domain.auto_reply import AutoReplyConfig, InboundFacts, decide, suppression
from domain.auto_reply_ledger import AutoReplyLedger
from domain.errors import InvalidInput, RuleViolated
from domain.interaction import Interaction
from domain.messages import MessageInfo

BERLIN = ZoneInfo("Europe/Berlin")
MONDAY_10 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # 10:00 in Berlin
MONDAY_22 = datetime(2026, 3, 2, 21, 0, tzinfo=UTC)
OWN = {"support@acme.test"}
OFFICE = [{"days": ["mon", "tue", "wed", "thu", "fri"], "from": "09:00", "to": "17:00"}]


def facts(sender: str = "carol@customer.test", **headers: str) -> InboundFacts:
    return InboundFacts(sender, {k.lower().replace("_", "-"): [v] for k, v in headers.items()})


@pytest.mark.parametrize(
    ("email", "reason"),
    [
        (facts(auto_submitted="auto-generated"), "Auto-Submitted: auto-generated"),
        (facts(auto_submitted="Auto-Replied; owner=x"), "Auto-Submitted: auto-replied"),
        (facts(precedence="Bulk"), "Precedence: bulk"),
        (facts(precedence="junk"), "Precedence: junk"),
        (facts(precedence="list"), "Precedence: list"),
        (facts(list_id="<l.customer.test>"), "list-id present"),
        (facts(x_autoreply="yes"), "x-autoreply present"),
        (facts(x_auto_response_suppress="OOF, AutoReply"), "the sender asked for no automatic"),
        (facts(return_path="<>"), "null return path"),
        (facts("MAILER-DAEMON@mx.customer.test"), "automatic sender"),
        (facts("owner-list@customer.test"), "automatic sender"),
        (facts("list-request@customer.test"), "automatic sender"),
        (facts(""), "no usable sender"),
        (facts("Support@Acme.test"), "sent from one of our own addresses"),
    ],
)
def test_automatic_bulk_and_own_mail_is_never_answered(email: InboundFacts, reason: str) -> None:
    found = suppression(email, OWN)
    assert found is not None
    assert found.startswith(reason)


def test_a_person_writing_is_answered() -> None:
    assert suppression(facts(auto_submitted="no", precedence="first-class"), OWN) is None


def test_out_of_hours_wins_and_follow_ups_get_only_out_of_hours() -> None:
    config = AutoReplyConfig.parse(
        {"acknowledge": True, "out_of_hours": True, "business_hours": OFFICE}
    )
    assert config is not None

    def decided(first: bool, at: datetime) -> str | None:
        found = decide(config, facts(), first=first, arrived_at=at, tz=BERLIN, own_addresses=OWN)
        return None if found is None else found.reason

    assert decided(True, MONDAY_10) == "acknowledgement"
    assert decided(True, MONDAY_22) == "out_of_hours"
    assert decided(False, MONDAY_22) == "out_of_hours"
    assert decided(False, MONDAY_10) is None


def test_the_text_carries_the_interactions_token() -> None:
    config = AutoReplyConfig.parse({"acknowledge": True, "acknowledgement_text": "Ref {ref}."})
    assert config is not None
    found = decide(config, facts(), first=True, arrived_at=MONDAY_10, tz=BERLIN, own_addresses=OWN)
    assert found is not None
    assert found.body("ABCDEFGHIJ") == "Ref [#ABCDEFGHIJ]."


@pytest.mark.parametrize(
    "raw",
    [
        "yes",
        {"acknowledge": "yes"},
        {"acknowledge": True, "surprise": 1},
        {"acknowledge": True, "window_minutes": 0},
        {"out_of_hours": True},
        {"out_of_hours": True, "business_hours": [{"days": ["mon"], "from": "9", "to": "17:00"}]},
        {"out_of_hours": True, "business_hours": [{"days": ["xyz"], "from": "09:00", "to": "1"}]},
        {"acknowledge": True, "acknowledgement_text": " "},
    ],
)
def test_malformed_settings_are_refused(raw: object) -> None:
    with pytest.raises(InvalidInput):
        AutoReplyConfig.parse(raw)


def test_nothing_enabled_means_no_automatic_replies() -> None:
    assert AutoReplyConfig.parse(None) is None
    assert AutoReplyConfig.parse({"acknowledge": False}) is None


def test_the_ledger_allows_one_reply_per_sender_per_window() -> None:
    window = timedelta(hours=1)
    ledger = AutoReplyLedger(company_id=uuid4(), sender="carol@customer.test", timestamp=MONDAY_10)
    ledger.replied(uuid4(), MONDAY_10, window, at=MONDAY_10)

    assert not ledger.allows(MONDAY_10 + timedelta(minutes=59), window)
    assert not ledger.allows(MONDAY_10 - timedelta(minutes=30), window)  # a backlog, late
    with pytest.raises(RuleViolated):
        ledger.replied(uuid4(), MONDAY_10 + timedelta(minutes=5), window, at=MONDAY_10)
    ledger.replied(uuid4(), MONDAY_10 + window, window, at=MONDAY_10)
    assert [type(e).__name__ for e in ledger.collect_events()] == ["Opened", "Replied", "Replied"]


def message(n: int, direction: str = "out") -> MessageInfo:
    return MessageInfo(
        record_id=f"r{n}",
        rfc_message_id=f"<{n}@acme.test>",
        direction=direction,
        sender="support@acme.test",
        sender_name="",
        to=["carol@customer.test"],
        cc=[],
        subject="Hi",
        snippet="",
        blob="b",
        attachments=[],
    )


def test_an_auto_reply_waits_in_the_outbox_and_a_bounce_joins_a_closed_interaction() -> None:
    agent = Actor("agent", uuid4())
    interaction = Interaction.start_outbound(
        uuid4(),
        uuid4(),
        mailbox="support@acme.test",
        queue_id=uuid4(),
        agent_id=agent.user_id,  # type: ignore[arg-type]
        message=message(1),
        actor=agent,
        at=MONDAY_10,
    )
    assert interaction.outbox == ["r1"]  # the first email of an outbound interaction
    interaction.queue_auto_reply(message(2), reason="acknowledgement", answering="r0", at=MONDAY_10)
    assert interaction.outbox == ["r1", "r2"]
    with pytest.raises(RuleViolated):
        interaction.queue_auto_reply(
            message(2), reason="acknowledgement", answering="r0", at=MONDAY_10
        )
    interaction.record_auto_reply_sent("r2", "250 OK", at=MONDAY_10)
    interaction.close([], agent, required=False, at=MONDAY_10)
    interaction.receive_bounce(message(3, "in"), "<1@acme.test>", at=MONDAY_22)

    assert (interaction.outbox, interaction.unread) == (["r1"], True)
    assert [type(e).__name__ for e in interaction.collect_events()][-4:] == [
        "AutoReplyQueued",
        "AutoReplySent",
        "Closed",
        "BounceReceived",
    ]
