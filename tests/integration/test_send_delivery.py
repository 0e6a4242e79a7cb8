"""Mail out against a real SMTP server (STARTTLS + AUTH): what arrives, and how it threads back.

Runs on SQLite and PostgreSQL: the outbox, the events and the view all live in the store.
"""

from __future__ import annotations

import base64
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

from api.workers.send import SendConfig
from tests.integration.conftest import Desk, raw_email


def _parts(message: EmailMessage) -> dict[str, list[EmailMessage]]:
    found: dict[str, list[EmailMessage]] = {}
    for part in message.walk():
        found.setdefault(part.get_content_type(), []).append(part)  # type: ignore[arg-type]
    return found


def _attached_original(data: bytes) -> bytes:
    """The forwarded original's bytes. adapters/compose.py currently base64-encodes a
    message/rfc822 part (RFC 2046 allows only 7bit/8bit/binary; reported), so both are read."""
    for part in BytesParser(policy=policy.compat32).parsebytes(data).walk():
        if part.get_content_type() != "message/rfc822":
            continue
        inner = part.get_payload()[0]
        if str(part.get("Content-Transfer-Encoding", "")).lower() == "base64":
            return base64.b64decode("".join(str(inner.get_payload()).split()))
        return bytes(inner.as_bytes())
    raise AssertionError("no message/rfc822 part")


def test_a_reply_arrives_threaded_and_the_customers_answer_joins_the_interaction(
    desk: Desk,
) -> None:
    iid = desk.accepted(message_id="<q1@customer.test>")
    queued = desk.act(
        iid, "reply", body_text="We are fixing invoice 42.", body_html="<p>We are fixing it.</p>"
    )
    assert len(queued["outbox"]) == 1
    assert desk.peer.delivered == []  # queued is not sent

    desk.deliver()

    [mail] = desk.peer.delivered
    message = mail.message
    assert (mail.mail_from, mail.rcpt_tos) == ("support@acme.test", ("carol@customer.test",))
    assert message["From"] == "Acme Support <support@acme.test>"
    assert message["To"] == "Carol <carol@customer.test>"
    assert message["Subject"] == f"Re: Invoice 42 is wrong [#{queued['short_ref']}]"
    assert message["In-Reply-To"] == "<q1@customer.test>"
    assert "<q1@customer.test>" in message["References"]
    parts = _parts(message)
    assert "We are fixing invoice 42." in parts["text/plain"][0].get_content()
    assert "<p>We are fixing it.</p>" in parts["text/html"][0].get_content()
    assert "multipart/alternative" in parts
    sent = desk.events(iid)[-1]
    assert type(sent).__name__ == "ReplySent"
    assert sent.smtp_response.startswith("250 ")
    view = desk.client.get(f"/v1/interactions/{iid}", headers=desk.acme.token("A")).json()
    assert view["outbox"] == []
    kept = desk.client.get(f"/v1/messages/{sent.record_id}/raw", headers=desk.acme.token("A"))
    assert kept.content == mail.data  # the raw copy is exactly what the server received

    answer = raw_email(
        subject=f"Re: Invoice 42 is wrong [#{queued['short_ref']}]",
        in_reply_to=mail.message_id,
    )
    joined = desk.post(answer, 200)
    assert (joined["outcome"], joined["interaction_id"]) == ("threaded", iid)
    desk.deliver()
    assert len(desk.peer.delivered) == 1  # nothing resent


def test_reply_all_answers_reply_to_and_copies_everyone_but_us(desk: Desk) -> None:
    iid = desk.accepted(
        headers={
            "Reply-To": "Carol Billing <billing@customer.test>",
            "To": "support@acme.test, Dan <dan@customer.test>",
            "Cc": "Erin <erin@partner.test>, support@acme.test",
        }
    )
    desk.act(iid, "reply", body_text="Answer to all.", reply_all=True)
    desk.deliver()

    [mail] = desk.peer.delivered
    assert mail.message["To"] == "Carol Billing <billing@customer.test>"
    assert mail.message["Cc"] == "Dan <dan@customer.test>, Erin <erin@partner.test>"
    assert sorted(mail.rcpt_tos) == [
        "billing@customer.test",
        "dan@customer.test",
        "erin@partner.test",
    ]


def test_a_forward_carries_the_original_and_new_outbound_mail_carries_attachments(
    desk: Desk,
) -> None:
    iid = desk.accepted(body="The original text.")
    desk.act(iid, "forward", to=["expert@partner.test"], body_text="Can you look?")
    desk.act(iid, "forward", to=["other@partner.test"], body_text="Inline:", inline=True)
    pdf = b"%PDF-1.4 " + bytes(range(256)) * 40
    started = desk.client.post(
        f"/v1/companies/{desk.acme.id}/outbound",
        headers=desk.acme.token("B"),
        json={
            "mailbox_id": desk.acme.mailbox_id,
            "queue_id": desk.acme.queues["General"],
            "to": ["frank@customer.test"],
            "cc": ["gina@customer.test"],
            "subject": "Your contract",
            "body_text": "Please find it attached.",
            "body_html": "<p>Please find it attached.</p>",
            "attachments": [
                {
                    "filename": "contract.pdf",
                    "content_type": "application/pdf",
                    "content_base64": base64.b64encode(pdf).decode(),
                }
            ],
        },
    )
    assert started.status_code == 201, started.text
    desk.deliver()

    by_rcpt = {mail.rcpt_tos: mail for mail in desk.peer.wait_for(3)}
    assert b"The original text." in _attached_original(by_rcpt[("expert@partner.test",)].data)
    inline = _parts(by_rcpt[("other@partner.test",)].message)["text/plain"][0].get_content()
    assert "Inline:" in inline
    assert "The original text." in inline
    new = by_rcpt[("frank@customer.test", "gina@customer.test")].message
    assert new["Subject"] == f"Your contract [#{started.json()['short_ref']}]"
    [file] = _parts(new)["application/pdf"]
    assert (file.get_filename(), file.get_content()) == ("contract.pdf", pdf)
    assert desk.event_names(started.json()["id"])[-1] == "ReplySent"

    answer = raw_email(
        sender="frank@customer.test",
        subject="Re: Your contract",
        in_reply_to=new["Message-ID"],
    )
    assert desk.post(answer, 200)["interaction_id"] == started.json()["id"]


def test_send_and_close_and_send_as_pending_happen_with_the_queueing(desk: Desk) -> None:
    closed_one = desk.accepted()
    closed = desk.act(closed_one, "reply", body_text="Done.", then={"close": []})
    assert (closed["status"], len(closed["outbox"])) == ("closed", 1)
    pending_one = desk.accepted()
    pending = desk.act(pending_one, "reply", body_text="Waiting.", then={"substatus": "Pending"})
    assert pending["substatus"] == "Pending"
    desk.deliver()
    assert len(desk.peer.delivered) == 2
    assert desk.event_names(closed_one)[-3:] == ["ReplyQueued", "Closed", "ReplySent"]

    [ours] = [m for m in desk.peer.delivered if pending["short_ref"] in m.message["Subject"]]
    desk.post(raw_email(in_reply_to=ours.message_id), 200)
    view = desk.client.get(f"/v1/interactions/{pending_one}", headers=desk.acme.token("A"))
    assert view.json()["substatus"] is None  # the customer answered


def test_a_451_is_retried_later_and_delivered_exactly_once(desk: Desk) -> None:
    iid = desk.accepted()
    desk.peer.script.data_answers.append("451 4.3.0 try again later")
    desk.act(iid, "reply", body_text="Hello.")

    desk.deliver()
    assert (desk.peer.attempts, desk.peer.delivered) == (1, [])
    [waiting] = desk.worker.outbox.pending()
    assert (waiting["attempts"], waiting["last_error"]) == (1, "451 4.3.0 try again later")
    desk.deliver()  # not due yet
    assert desk.peer.attempts == 1

    desk.clock.advance(seconds=31)
    desk.deliver(passes=3)
    assert (desk.peer.attempts, len(desk.peer.delivered)) == (2, 1)
    assert desk.event_names(iid)[-1] == "ReplySent"


def test_a_550_is_a_visible_failure_and_nothing_is_resent(desk: Desk) -> None:
    iid = desk.accepted()
    desk.peer.script.always = "550 5.1.1 no such user"
    desk.act(iid, "reply", body_text="Hello.")

    desk.deliver()
    desk.clock.advance(hours=5)
    desk.deliver(passes=2)

    assert (desk.peer.attempts, desk.peer.delivered) == (1, [])
    failed = desk.events(iid)[-1]
    assert (type(failed).__name__, failed.error) == ("SendFailed", "550 5.1.1 no such user")
    timeline = desk.client.get(
        f"/v1/interactions/{iid}/timeline", headers=desk.acme.token("A")
    ).json()["entries"]
    assert timeline[-1]["type"] == "send_failed"
    assert desk.worker.outbox.pending() == []


def test_the_worker_thread_sends_as_soon_as_a_reply_is_saved(desk: Desk) -> None:
    desk.worker.config = SendConfig(name=desk.worker.config.name, idle_poll=30.0)
    desk.worker.start()
    try:
        iid = desk.accepted()
        desk.act(iid, "reply", body_text="Right away.")
        assert len(desk.peer.wait_for(1, timeout=5.0)) == 1  # woken by the save, not the poll
    finally:
        desk.worker.stop()
