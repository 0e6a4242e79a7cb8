"""What the sender refuses or waits for: unverified certificates, bad credentials, missing
settings, bad input at the API, and bounces that come back."""

from __future__ import annotations

import asyncio
import base64

import pytest

from adapters.smtp_sender import SmtpSession, SmtpSettings, TemporaryFailure
from tests.integration.conftest import Desk, raw_email
from tests.integration.smtp_peer import PASSWORD, SmtpPeer


def test_a_self_signed_server_is_refused_unless_its_ca_is_configured(sqlite_desk: Desk) -> None:
    desk = sqlite_desk
    desk.configure_smtp(ca_file=None)  # the system trust store does not know the test CA
    iid = desk.accepted()
    desk.act(iid, "reply", body_text="Hello.")

    desk.deliver()
    assert (desk.peer.attempts, desk.peer.delivered) == (0, [])
    [waiting] = desk.worker.outbox.pending()
    assert "CERTIFICATE_VERIFY_FAILED" in waiting["last_error"]
    assert desk.event_names(iid)[-1] == "ReplyQueued"

    desk.configure_smtp()  # with the CA file
    desk.clock.advance(minutes=1)
    desk.deliver()
    assert len(desk.peer.delivered) == 1


def test_implicit_tls_delivers_and_a_wrong_password_waits(
    sqlite_desk: Desk, caplog: pytest.LogCaptureFixture
) -> None:
    desk = sqlite_desk
    implicit = SmtpPeer(desk.peer.certificates, implicit_tls=True).start()
    try:
        desk.configure_smtp(**{**implicit.mailbox_settings(), "password": "wrong-Pa55"})
        iid = desk.accepted()
        desk.act(iid, "reply", body_text="Hello over implicit TLS.")
        desk.deliver()
        assert "535" in desk.worker.outbox.pending()[0]["last_error"]

        desk.configure_smtp(**implicit.mailbox_settings())
        desk.clock.advance(minutes=1)
        desk.deliver()
        assert [m.rcpt_tos for m in implicit.delivered] == [("carol@customer.test",)]
        assert "wrong-Pa55" not in caplog.text
        assert PASSWORD not in caplog.text  # credentials are never logged
    finally:
        implicit.stop()


def test_a_mailbox_without_smtp_settings_keeps_its_mail_waiting(sqlite_desk: Desk) -> None:
    desk = sqlite_desk
    url = f"/v1/companies/{desk.acme.id}/mailboxes/{desk.acme.mailbox_id}"
    body = {"address": "support@acme.test", "default_queue_id": desk.acme.queues["General"]}
    assert desk.client.put(url, headers=desk.admin, json=body).status_code == 200
    iid = desk.accepted()
    desk.act(iid, "reply", body_text="Hello.")

    for _ in range(3):
        desk.deliver()
        desk.clock.advance(hours=2)
    [waiting] = desk.worker.outbox.pending()
    assert (waiting["attempts"], waiting["last_error"]) == (
        0,
        "mailbox support@acme.test has no SMTP settings",
    )
    assert desk.event_names(iid)[-1] == "ReplyQueued"  # no failure for a missing setting


def test_oversized_attachments_get_413_and_malformed_recipients_422_with_nothing_queued(
    sqlite_desk: Desk,
) -> None:
    desk = sqlite_desk
    iid = desk.accepted()
    big = base64.b64encode(b"x" * (15 * 1024 * 1024 + 1)).decode()
    attachment = {"filename": "big.bin", "content_base64": big}
    response = desk.client.post(
        f"/v1/interactions/{iid}/reply",
        headers=desk.acme.token("A"),
        json={"body_text": "Hi", "attachments": [attachment]},
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "/problems/attachment-too-large"
    for bad in ("not an address", "a@b", "carol@customer.test, dan@customer.test", "<>"):
        response = desk.client.post(
            f"/v1/interactions/{iid}/reply",
            headers=desk.acme.token("A"),
            json={"body_text": "Hi", "to": [bad]},
        )
        assert response.status_code == 422, (bad, response.text)
        assert response.json()["type"] == "/problems/invalid-address"
    assert desk.event_names(iid) == ["Received", "Routed", "Accepted"]
    desk.deliver()
    assert desk.peer.attempts == 0


def test_a_bounce_joins_the_interaction_of_the_email_it_reports_on(desk: Desk) -> None:
    iid = desk.accepted()
    desk.act(iid, "reply", body_text="Hello.")
    desk.deliver()
    [ours] = desk.peer.delivered
    report = (
        "Return-Path: <>\r\nFrom: Mail Delivery System <MAILER-DAEMON@mx.customer.test>\r\n"
        "To: support@acme.test\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <dsn-1@mx.customer.test>\r\nAuto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\n"
        "Final-Recipient: rfc822; carol@customer.test\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "\r\n--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: support@acme.test\r\nMessage-ID: {ours.message_id}\r\n\r\n--B--\r\n"
    ).encode()

    delivered = desk.post(report, 200)

    assert (delivered["outcome"], delivered["interaction_id"]) == ("bounced", iid)
    bounce = desk.events(iid)[-1]
    assert type(bounce).__name__ == "BounceReceived"
    assert bounce.bounced_message_id == ours.message_id
    desk.deliver()
    assert len(desk.peer.delivered) == 1  # and no auto-reply to a bounce
    desk.act(iid, "reply", body_text="Is there another address we can use?", reply_all=True)
    desk.deliver()
    assert desk.peer.delivered[-1].rcpt_tos == ("carol@customer.test",)  # not the reporter


def test_a_bounce_about_mail_we_never_sent_is_an_ordinary_email(sqlite_desk: Desk) -> None:
    unknown = raw_email(
        sender="MAILER-DAEMON@mx.other.test",
        headers={"Content-Type": "multipart/report; report-type=delivery-status; boundary=B"},
        body="--B\r\nContent-Type: message/delivery-status\r\n\r\nAction: failed\r\n--B--",
    )
    assert sqlite_desk.post(unknown, 201)["outcome"] == "created"


def test_plaintext_smtp_needs_the_mailboxs_permission(smtp: SmtpPeer) -> None:
    plain = SmtpSettings(smtp.host, smtp.port, "none", None, "support@acme.test", PASSWORD)

    async def open_(settings: SmtpSettings) -> None:
        await (await SmtpSession(settings).open()).close()

    with pytest.raises(TemporaryFailure, match=r"plaintext SMTP .* is not allowed"):
        asyncio.run(open_(plain))
    allowed = SmtpSettings(**{**vars(plain), "allow_plaintext": True})
    with pytest.raises(TemporaryFailure, match="AUTH extension is not supported"):  # no TLS yet
        asyncio.run(open_(allowed))
