"""Automatic replies (RFC 3834) and mail loops: acknowledgements with the token, out of hours
at arrival time, never to automatic or bulk mail, at most one per sender per window."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.conftest import Desk, raw_email
from tests.integration.smtp_peer import Delivered

BERLIN_OFFICE = [{"days": ["mon", "tue", "wed", "thu", "fri"], "from": "09:00", "to": "17:00"}]


def automatic(desk: Desk) -> list[Delivered]:
    return [m for m in desk.peer.delivered if m.message["Auto-Submitted"] == "auto-replied"]


def test_an_acknowledgement_carries_the_token_and_rfc_3834_headers(desk: Desk) -> None:
    desk.configure_auto_reply(acknowledge=True)
    created = desk.post(raw_email(message_id="<ask-1@customer.test>"), 201)

    desk.deliver()

    [ack] = desk.peer.delivered
    view = desk.client.get(
        f"/v1/interactions/{created['interaction_id']}", headers=desk.acme.token("A")
    ).json()
    message = ack.message
    assert (ack.mail_from, ack.rcpt_tos) == ("<>", ("carol@customer.test",))  # null path
    assert message["Auto-Submitted"] == "auto-replied"
    assert message["X-Auto-Response-Suppress"] == "All"
    assert message["In-Reply-To"] == "<ask-1@customer.test>"
    assert f"[#{view['short_ref']}]" in message["Subject"]
    assert f"[#{view['short_ref']}]" in message.get_body().get_content()  # type: ignore[union-attr]
    names = desk.event_names(created["interaction_id"])
    assert names[-2:] == ["AutoReplyQueued", "AutoReplySent"]

    answer = raw_email(subject="Re: thanks", in_reply_to=ack.message_id)
    assert desk.post(answer, 200)["interaction_id"] == created["interaction_id"]
    desk.deliver()
    assert len(desk.peer.delivered) == 1  # a follow-up gets no second acknowledgement


AUTOMATIC_OR_BULK = {
    "auto-generated": {"Auto-Submitted": "auto-generated"},
    "auto-replied": {"Auto-Submitted": "auto-replied; owner-email=carol@customer.test"},
    "auto-notified": {"Auto-Submitted": "auto-notified"},
    "precedence bulk": {"Precedence": "bulk"},
    "precedence junk": {"Precedence": "junk"},
    "precedence list": {"Precedence": "list"},
    "list-id": {"List-Id": "Customers <customers.lists.customer.test>"},
    "x-autoreply": {"X-Autoreply": "yes"},
    "null return path": {"Return-Path": "<>"},
    "mailer-daemon": {"From": "MAILER-DAEMON@mx.customer.test"},
    "our own address": {"From": "Support <support@acme.test>"},
}


def test_automatic_and_bulk_mail_is_ingested_but_never_answered(desk: Desk) -> None:
    desk.configure_auto_reply(acknowledge=True)
    created = {}
    for kind, headers in AUTOMATIC_OR_BULK.items():
        sender = headers.get("From", f"{kind.replace(' ', '.')}@customer.test")
        created[kind] = desk.post(raw_email(sender=sender, headers=headers), 201)

    desk.deliver(passes=2)

    assert desk.peer.delivered == []
    for kind, delivery in created.items():
        names = desk.event_names(delivery["interaction_id"])
        assert names[:2] == ["Received", "Routed"], kind  # ingested
        assert "AutoReplyQueued" not in names, kind


def test_out_of_hours_is_decided_at_arrival_time(sqlite_desk: Desk) -> None:
    desk = sqlite_desk
    desk.configure_auto_reply(out_of_hours=True, business_hours=BERLIN_OFFICE)
    desk.clock.now = datetime(2026, 3, 2, 15, 55, tzinfo=UTC)  # Monday 16:55 in Berlin
    in_hours = desk.post(raw_email(sender="early@customer.test"), 201)
    desk.clock.advance(minutes=10)  # 17:05: closed
    late = desk.post(raw_email(sender="late@customer.test"), 201)

    desk.clock.advance(hours=12)  # the worker only runs the next morning
    desk.deliver()

    assert [m.rcpt_tos for m in automatic(desk)] == [("late@customer.test",)]
    assert "out of the office" in automatic(desk)[0].message.get_body().get_content()  # type: ignore[union-attr]
    assert "AutoReplyQueued" not in desk.event_names(in_hours["interaction_id"])
    queued = [e for e in desk.events(late["interaction_id"]) if hasattr(e, "answering")]
    assert queued[0].reason == "out_of_hours"


def test_a_crashed_decision_is_not_taken_twice(sqlite_desk: Desk) -> None:
    desk = sqlite_desk
    desk.configure_auto_reply(acknowledge=True)
    desk.post(raw_email(), 201)
    desk.worker.catch_up.run_once()
    [arrival] = desk.worker.outbox.arrivals()

    first = desk.worker.auto_replies.consider(arrival, {})
    again = desk.worker.auto_replies.consider(arrival, {})  # as after a crash before `decided`

    assert (first, again) == (True, False)
    desk.deliver(passes=2)
    assert len(desk.peer.delivered) == 1


@pytest.mark.parametrize("marks_its_answers", [True, False])
def test_an_auto_responder_peer_gets_at_most_one_automatic_message_per_window(
    desk: Desk, marks_its_answers: bool
) -> None:
    """Ten simulated minutes against a peer that answers everything we send, plus a new
    email from the same person every minute; a polite peer marks its answers (RFC 3834), a
    rude one neither marks nor threads them."""
    window = timedelta(minutes=4)
    desk.configure_auto_reply(acknowledge=True, window_minutes=4)
    start, answered, sent_at = desk.clock(), 0, {}
    while desk.clock() - start < timedelta(minutes=10):
        if (desk.clock() - start).seconds % 60 == 0:
            desk.post(raw_email(sender="bot@customer.test", subject="Status report"), 201)
        desk.deliver()
        for mail in desk.peer.delivered[answered:]:
            sent_at[mail.message_id] = desk.clock()
            headers = {"Auto-Submitted": "auto-replied"} if marks_its_answers else {}
            desk.post(
                raw_email(
                    sender="bot@customer.test",
                    subject=f"I got: {mail.message['Subject']}",
                    in_reply_to=mail.message_id if marks_its_answers else None,
                    headers=headers,
                )
            )
        answered = len(desk.peer.delivered)
        desk.clock.advance(seconds=15)

    ours = automatic(desk)
    assert ours, "the acknowledgement is sent"
    times = sorted(sent_at[m.message_id] for m in ours)
    assert all(later - earlier >= window for earlier, later in itertools.pairwise(times))
    threads = Counter(m.message["In-Reply-To"] for m in ours)
    assert max(threads.values()) == 1  # at most one per thread
    assert len(ours) <= 3  # ten minutes hold at most three four-minute windows
