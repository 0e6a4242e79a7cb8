"""Header injection: CR, LF, CRLF, NUL and encoded-word newlines in subjects, display names and
addresses, from customers' emails and from agents' requests. At the SMTP server: 0 injected
headers, no stray recipients; at the API and in the worker: 0 crashes (CVE-2024-6923 included,
on the pinned interpreter)."""

from __future__ import annotations

import base64
import sys
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.conftest import Desk, raw_email

ALLOWED = {
    "from",
    "to",
    "cc",
    "subject",
    "date",
    "message-id",
    "in-reply-to",
    "references",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
}
EVIL = "evil@evil.test"
BREAKS = ["\r\n", "\n", "\r", "\x00"]
ENCODED_BREAKS = [
    f"=?UTF-8?Q?hi=0ABcc:_{EVIL}?=",
    "=?UTF-8?Q?hi=0D=0AX-Injected:_1?=",
    "=?UTF-8?B?" + base64.b64encode(f"a\r\nBcc: {EVIL}".encode()).decode() + "?=",
    f"=?UTF-8?Q?x=00Bcc:_{EVIL}?=",
]


def assert_nothing_injected(desk: Desk, *, evil_may_write: bool = False) -> None:
    """Only the headers we set, and envelope recipients exactly those the headers show.

    `evil_may_write`: the raw inbound email itself may name evil@ as its sender or Cc, and
    answering them is then no injection."""
    for mail in desk.peer.delivered:
        message = mail.message
        assert set(mail.header_names()) <= ALLOWED, mail.header_names()
        shown = {a.addr_spec for h in ("To", "Cc") for a in getattr(message[h], "addresses", ())}
        assert set(mail.rcpt_tos) == shown
        assert evil_may_write or EVIL not in mail.rcpt_tos


def post_and_reply(desk: Desk, raw: bytes, **reply: Any) -> None:
    delivery = desk.client.post(
        f"/v1/companies/{desk.acme.id}/inbound",
        content=raw,
        headers={**desk.admin, "Content-Type": "message/rfc822"},
    )
    assert delivery.status_code < 500, delivery.text
    if delivery.status_code != 201:
        return
    iid = delivery.json()["interaction_id"]
    desk.act(iid, "accept")
    answer = desk.client.post(
        f"/v1/interactions/{iid}/reply",
        headers=desk.acme.token("A"),
        json={"body_text": "Thanks.", "reply_all": True, **reply},
    )
    assert answer.status_code in (200, 422), answer.text


def test_customer_headers_with_encoded_newlines_cannot_inject(sqlite_desk: Desk) -> None:
    desk = sqlite_desk
    for word in ENCODED_BREAKS:
        raw = raw_email(
            sender=f"{word} <carol@customer.test>",
            subject=word,
            headers={"Reply-To": f"{word} <carol@customer.test>", "Cc": f"{word} <dan@x.test>"},
        )
        post_and_reply(desk, raw)
    desk.deliver(passes=2)
    assert len(desk.peer.delivered) == len(ENCODED_BREAKS)
    assert_nothing_injected(desk)
    print(sys.version)  # the pinned interpreter this ran on, in -s output


def test_agents_values_with_line_breaks_are_refused_before_queueing(sqlite_desk: Desk) -> None:
    desk = sqlite_desk
    iid = desk.accepted()
    values = [f"carol@customer.test{b}Bcc: {EVIL}" for b in BREAKS]
    values += [f'"Carol{b}Bcc: {EVIL}" <carol@customer.test>' for b in BREAKS]
    values += [f"{word} <carol@customer.test>" for word in ENCODED_BREAKS]
    for value in values:
        for field in ("to", "cc"):
            response = desk.client.post(
                f"/v1/interactions/{iid}/reply",
                headers=desk.acme.token("A"),
                json={"body_text": "Hi", field: [value]},
            )
            assert response.status_code == 422, (field, value, response.text)
    for name in (f"a{b}Content-Type: text/html.pdf" for b in BREAKS):
        response = desk.client.post(
            f"/v1/interactions/{iid}/reply",
            headers=desk.acme.token("A"),
            json={"body_text": "Hi", "attachments": [{"filename": name, "content_base64": ""}]},
        )
        assert response.status_code == 422, (name, response.text)
    assert desk.event_names(iid)[-1] == "Accepted"  # nothing was queued


def test_subjects_of_new_emails_cannot_inject(sqlite_desk: Desk) -> None:
    desk = sqlite_desk
    subjects = [f"Hello{b}Bcc: {EVIL}" for b in BREAKS] + ENCODED_BREAKS
    for subject in subjects:
        response = desk.client.post(
            f"/v1/companies/{desk.acme.id}/outbound",
            headers=desk.acme.token("A"),
            json={
                "mailbox_id": desk.acme.mailbox_id,
                "queue_id": desk.acme.queues["General"],
                "to": ["carol@customer.test"],
                "subject": subject,
                "body_text": "Hi",
            },
        )
        assert response.status_code in (201, 422), (subject, response.text)
    desk.deliver()
    assert len(desk.peer.delivered) == len(ENCODED_BREAKS)  # typed literally, sent as text
    assert_nothing_injected(desk)


PIECES = ["a", " ", ":", "\r", "\n", "\r\n", "\x00", "\t", "=?UTF-8?Q?", "=0A", "=0D", "?="]
TRICKY = st.lists(st.sampled_from([*PIECES, "Bcc: ", EVIL, "<", ">", '"']), max_size=12).map(
    "".join
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(subject=TRICKY, name=TRICKY)
def test_any_subject_or_display_name_from_a_customer_is_answered_safely(
    sqlite_desk: Desk, subject: str, name: str
) -> None:
    desk = sqlite_desk
    raw = raw_email(sender=f"{name} <carol@customer.test>", subject=subject)
    post_and_reply(desk, raw)
    desk.deliver()
    assert_nothing_injected(desk, evil_may_write=True)
