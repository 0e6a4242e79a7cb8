"""Outgoing mail: header injection is refused, and what is sent parses back unchanged."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.compose import (
    SHORT_REF,
    OutgoingMessage,
    compose,
    find_ref_tokens,
    forward_subject,
    make_message_id,
    reply_subject,
)
from adapters.mime import Address, Attachment, parse_message, single_line
from domain.errors import HeaderInjection, InvalidAddress, InvalidInput

TOKEN = "ABCDEFGH23"
SENT_AT = datetime(2024, 10, 1, 9, 30, tzinfo=UTC)
BASE = OutgoingMessage(
    sender=Address("support@acme.test", "Acme Support"),
    to=(Address("ann@example.com", "Ann Lee"),),
    cc=(Address("bob@example.org"),),
    subject="Your order",
    body_text="Hello Ann,\nthanks.\n",
    body_html=None,
    message_id="<0123456789abcdef@acme.test>",
    date=SENT_AT,
)
BREAKS = ["\r", "\n", "\r\n", "\x00", "\u2028", "\x0b"]


def header_names(raw: bytes) -> list[str]:
    head = raw.split(b"\r\n\r\n", 1)[0]
    return [n.decode().lower() for n in re.findall(rb"^([^\s:]+):", head, re.M)]


def with_break(field: str, brk: str) -> OutgoingMessage:
    evil = f"x{brk}Bcc: spy@evil.test"
    person = Address("ann@example.com", evil)
    changes: dict[str, object] = {
        "subject": {"subject": evil},
        "sender name": {"sender": Address("support@acme.test", evil)},
        "to name": {"to": (person,)},
        "cc name": {"cc": (person,)},
        "to address": {"to": (Address(f"ann@example.com{brk}"),)},
        "sender address": {"sender": Address(f"support@acme.test{brk}")},
        "message id": {"message_id": f"<a@acme.test>{brk}"},
        "in-reply-to": {"in_reply_to": f"<a@acme.test>{brk}Bcc: spy@evil.test"},
        "references": {"references": ("<a@acme.test>", f"<b@acme.test>{brk}")},
        "extra header": {"extra_headers": (("Auto-Submitted", evil),)},
        "extra header name": {"extra_headers": ((f"X-A{brk}Bcc", "v"),)},
        "attachment name": {"attachments": (Attachment(evil, "text/plain", b"x"),)},
    }[field]
    return dataclasses.replace(BASE, **changes)  # type: ignore[arg-type]


FIELDS = [
    "subject",
    "sender name",
    "to name",
    "cc name",
    "to address",
    "sender address",
    "message id",
    "in-reply-to",
    "references",
    "extra header",
    "extra header name",
    "attachment name",
]


@pytest.mark.parametrize("brk", BREAKS, ids=repr)
@pytest.mark.parametrize("field", FIELDS)
def test_line_break_or_nul_in_any_header_value_is_refused(field: str, brk: str) -> None:
    with pytest.raises(HeaderInjection):
        compose(with_break(field, brk))


LITERAL_WORD = "=?UTF-8?Q?hi=0ABcc:_x@evil.test?="


def test_text_that_looks_like_an_encoded_word_is_sent_literally() -> None:
    person = Address("ann@example.com", LITERAL_WORD)
    raw = compose(dataclasses.replace(BASE, subject=LITERAL_WORD, to=(person,), cc=()))
    parsed = parse_message(raw)

    assert header_names(raw) == [
        "from",
        "to",
        "subject",
        "date",
        "message-id",
        "content-type",
        "content-transfer-encoding",
        "mime-version",
    ]
    assert (parsed.subject, parsed.to) == (LITERAL_WORD, (person,))


def test_extra_header_that_decodes_to_a_line_break_is_refused() -> None:
    extra = (("X-Note", "=?utf-8?b?YQpCY2M6IHhAZXZpbC50ZXN0?="),)

    with pytest.raises(HeaderInjection):
        compose(dataclasses.replace(BASE, extra_headers=extra))


@pytest.mark.parametrize("name", ["Bcc", "To", "subject", "Content-Type", "X Bad", "X:Bad", ""])
def test_extra_headers_cannot_override_managed_ones(name: str) -> None:
    with pytest.raises(HeaderInjection):
        compose(dataclasses.replace(BASE, extra_headers=((name, "spy@evil.test"),)))


@pytest.mark.parametrize(
    "changes",
    [
        {"to": (Address("not-an-address"),)},
        {"cc": (Address("a@b.test, c@d.test"),)},
        {"sender": Address("support@localhost")},
        {"to": (), "cc": ()},
    ],
)
def test_invalid_or_missing_recipients_are_refused(changes: dict[str, object]) -> None:
    with pytest.raises(InvalidAddress):
        compose(dataclasses.replace(BASE, **changes))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "changes",
    [{"message_id": "no-brackets@acme.test"}, {"in_reply_to": "<no-at>"}, {"references": ("<>",)}],
)
def test_malformed_message_ids_are_refused(changes: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        compose(dataclasses.replace(BASE, **changes))  # type: ignore[arg-type]


def test_naive_date_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        compose(dataclasses.replace(BASE, date=datetime(2024, 1, 1)))


def test_full_message_round_trips_through_the_parser() -> None:
    long_id = "<" + "c" * 90 + "@mail.gmail.com>"
    message = dataclasses.replace(
        BASE,
        to=(Address("ann@example.com", "Lee, Ann"), Address("joerg@example.de", "Jörg Müller")),
        subject="Grüße, and your order #42",
        body_text="Grüße,\nsee the invoice.\n",
        body_html="<p>Grüße</p>",
        date=datetime(2024, 10, 1, 11, 30, tzinfo=timezone(timedelta(hours=2))),
        in_reply_to=long_id,
        references=("<root@example.com>", long_id),
        attachments=(Attachment("Rechnung März.pdf", "application/pdf", b"%PDF\x00\xff"),),
        extra_headers=(("Auto-Submitted", "auto-replied"),),
    )
    raw = compose(message)
    parsed = parse_message(raw)

    assert long_id.encode() in raw
    assert parsed.sender == message.sender
    assert (parsed.to, parsed.cc) == (message.to, message.cc)
    assert parsed.subject == message.subject
    assert parsed.message_id == message.message_id
    assert (parsed.in_reply_to, parsed.references) == ((long_id,), message.references)
    assert parsed.date == SENT_AT
    assert (parsed.text, parsed.html) == (message.body_text, "<p>Grüße</p>\n")
    assert parsed.attachments == message.attachments
    assert parsed.auto_submitted
    assert header_names(raw) == [
        "from",
        "to",
        "cc",
        "subject",
        "date",
        "message-id",
        "in-reply-to",
        "references",
        "auto-submitted",
        "mime-version",
        "content-type",
    ]


def test_inbound_encoded_newline_subject_cannot_inject_into_the_reply() -> None:
    inbound = parse_message(
        b"From: Ann <ann@example.com>\r\nTo: support@acme.test\r\n"
        b"Subject: =?UTF-8?Q?hi=0ABcc:_x@evil.test?=\r\nMessage-ID: <in@example.com>\r\n\r\nHi\r\n"
    )
    reply = dataclasses.replace(
        BASE,
        to=(inbound.sender,),
        cc=(),
        subject=reply_subject(inbound.subject, TOKEN),
        in_reply_to=inbound.message_id,
        references=(inbound.message_id,),
    )
    raw = compose(reply)
    parsed = parse_message(raw)

    assert header_names(raw) == [
        "from",
        "to",
        "subject",
        "date",
        "message-id",
        "in-reply-to",
        "references",
        "content-type",
        "content-transfer-encoding",
        "mime-version",
    ]
    assert b"\nBcc" not in raw
    assert parsed.subject == f"Re: hi Bcc: x@evil.test [#{TOKEN}]"
    assert parsed.participants() == ("support@acme.test", "ann@example.com")


def test_crlf_in_an_inbound_subject_does_not_break_the_reply() -> None:
    subject = reply_subject("Order\r\nBcc: spy@evil.test", TOKEN)

    assert subject == f"Re: Order Bcc: spy@evil.test [#{TOKEN}]"
    assert header_names(compose(dataclasses.replace(BASE, subject=subject))).count("bcc") == 0


def test_composing_is_deterministic() -> None:
    message = dataclasses.replace(BASE, body_html="<p>x</p>")

    assert parse_message(compose(message)) == parse_message(compose(message))


PRINTABLE = st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"))
BODY = st.text(st.characters(blacklist_categories=("Cc", "Cs"), whitelist_characters="\n"))
NAMES = st.text(PRINTABLE, max_size=40)
LOCAL = st.from_regex(r"[a-z0-9][a-z0-9._+-]{0,15}[a-z0-9]", fullmatch=True).filter(
    lambda s: ".." not in s
)
ADDRESS = st.builds(lambda local, name: Address(f"{local}@example.test", name), LOCAL, NAMES)
# the stdlib unquotes a filename twice, so "<x>" and '"x"' come back as x; paths are cut off
FILENAME = st.text(PRINTABLE, max_size=60).filter(
    lambda n: not {"/", "\\"} & set(n) and n[:1] + n[-1:] not in ("<>", '""')
)
MESSAGE_ID = st.from_regex(r"<[A-Za-z0-9.$%+_-]{1,100}@[a-z0-9.-]{1,40}>", fullmatch=True)


def expected_body(text: str) -> str:
    return text if text.endswith("\n") else text + "\n"


@settings(max_examples=150, deadline=None)
@given(
    subject=st.text(PRINTABLE, max_size=200),
    body=BODY,
    html=st.none() | BODY,
    to=st.lists(ADDRESS, min_size=1, max_size=3, unique_by=lambda a: a.address),
    in_reply_to=st.none() | MESSAGE_ID,
    references=st.lists(MESSAGE_ID, max_size=4, unique=True),
    sender_name=NAMES,
    files=st.lists(st.tuples(FILENAME, st.binary(max_size=50)), max_size=2),
)
def test_round_trip_keeps_what_was_sent(
    subject: str,
    body: str,
    html: str | None,
    to: list[Address],
    in_reply_to: str | None,
    references: list[str],
    sender_name: str,
    files: list[tuple[str, bytes]],
) -> None:
    message = dataclasses.replace(
        BASE,
        sender=Address("support@acme.test", sender_name),
        subject=subject,
        body_text=body,
        body_html=html,
        to=tuple(to),
        cc=(),
        in_reply_to=in_reply_to,
        references=tuple(references),
        attachments=tuple(
            Attachment(name, "application/octet-stream", data) for name, data in files
        ),
    )
    parsed = parse_message(compose(message))

    assert parsed.subject == single_line(subject)
    assert parsed.sender.name == single_line(sender_name)
    assert [(a.filename, a.content) for a in parsed.attachments] == [
        (single_line(name), data) for name, data in files
    ]
    assert [a.address for a in parsed.to] == [a.address for a in to]
    assert [a.name for a in parsed.to] == [single_line(a.name) for a in to]
    assert parsed.message_id == message.message_id
    assert parsed.in_reply_to == ((in_reply_to,) if in_reply_to else ())
    assert parsed.references == tuple(references)
    assert parsed.text == expected_body(body)
    assert parsed.html == (None if html is None else expected_body(html))


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Order 42", f"Re: Order 42 [#{TOKEN}]"),
        ("Re: Order 42", f"Re: Order 42 [#{TOKEN}]"),
        ("RE: re:Aw: AW[2]: Sv: Order 42", f"Re: Order 42 [#{TOKEN}]"),
        (f"Re: Order 42 [#{TOKEN}]", f"Re: Order 42 [#{TOKEN}]"),
        (f"[#{TOKEN}] Order 42", f"Re: [#{TOKEN}] Order 42"),
        ("Fwd: Order 42", f"Re: Fwd: Order 42 [#{TOKEN}]"),
        ("Order\r\n\tBcc: x@evil.test", f"Re: Order Bcc: x@evil.test [#{TOKEN}]"),
        ("", f"Re: [#{TOKEN}]"),
        ("  Re:  ", f"Re: [#{TOKEN}]"),
        ("Regarding your order", f"Re: Regarding your order [#{TOKEN}]"),
    ],
)
def test_reply_subject(subject: str, expected: str) -> None:
    assert reply_subject(subject, TOKEN) == expected


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Order 42", f"Fwd: Order 42 [#{TOKEN}]"),
        ("FW: Fwd: WG: Order 42", f"Fwd: Order 42 [#{TOKEN}]"),
        (f"Re: Order [#{TOKEN}]", f"Fwd: Re: Order [#{TOKEN}]"),
        ("a\nb", f"Fwd: a b [#{TOKEN}]"),
    ],
)
def test_forward_subject(subject: str, expected: str) -> None:
    assert forward_subject(subject, TOKEN) == expected


@pytest.mark.parametrize("token", ["abcdefgh23", "ABCDEFGH1", "ABCDEFGH231", "ABCDEFGH]\n"])
def test_malformed_reference_token_is_refused(token: str) -> None:
    with pytest.raises(ValueError, match="token"):
        reply_subject("Order", token)


@given(subject=st.text(max_size=100))
def test_reply_subject_is_stable_single_line_and_composable(subject: str) -> None:
    once = reply_subject(subject, TOKEN)

    assert reply_subject(once, TOKEN) == once
    assert once.startswith("Re: ")
    assert TOKEN in find_ref_tokens(once)
    assert parse_message(compose(dataclasses.replace(BASE, subject=once))).subject == once


def test_find_ref_tokens() -> None:
    subject = "Re: [#ABCDEFGH23] and [#ZZZZZZZZZZ] again [#ABCDEFGH23] [#abcdefgh23] [#ABC]"

    assert find_ref_tokens(subject) == ["ABCDEFGH23", "ZZZZZZZZZZ"]
    assert SHORT_REF.search("x [#ABCDEFGH23] y") is not None


def test_make_message_id_is_stable_per_seed() -> None:
    first = make_message_id("send:42:attempt", "acme.test")

    assert first == make_message_id("send:42:attempt", "acme.test")
    assert first != make_message_id("send:43:attempt", "acme.test")
    assert re.fullmatch(r"<[0-9a-f]{32}@acme\.test>", first)


@pytest.mark.parametrize("domain", ["acme.test\r\nBcc: x", "acme.test\x00"])
def test_make_message_id_refuses_injection(domain: str) -> None:
    with pytest.raises(HeaderInjection):
        make_message_id("seed", domain)


@pytest.mark.parametrize("domain", ["", "acme test", "<acme.test>", "-acme.test"])
def test_make_message_id_refuses_non_domains(domain: str) -> None:
    with pytest.raises(InvalidInput):
        make_message_id("seed", domain)
