"""Inbound parsing: real and hostile messages become domain values or UnparseableMessage."""

from __future__ import annotations

import sysconfig
import time
from datetime import UTC, datetime
from email import policy
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters import addresses, mime
from adapters.mime import (
    Address,
    ParsedMessage,
    html_to_text,
    parse_address,
    parse_address_list,
    parse_message,
)
from domain.errors import HeaderInjection, InvalidAddress, UnparseableMessage

CORPUS = Path(sysconfig.get_paths()["stdlib"]) / "test" / "test_email" / "data"
CORPUS_FILES = sorted(CORPUS.glob("msg_*.txt"))


def message(*headers: str, body: str = "Hello.\n", sender: str = "Ann <ann@example.com>") -> bytes:
    lines = [f"From: {sender}", *headers, "", body]
    return "\r\n".join(lines).encode()


def assert_well_formed(parsed: ParsedMessage) -> None:
    """What every successfully parsed message promises its consumers."""
    for value in (parsed.subject, parsed.sender.name, *(a.name for a in parsed.to + parsed.cc)):
        assert not mime.LINE_BREAKS.search(value)
        value.encode("utf-8")
    for attachment in parsed.attachments:
        assert not mime.LINE_BREAKS.search(attachment.filename)
        assert "/" not in attachment.filename
    parsed.text.encode("utf-8")
    assert "\x00" not in parsed.text
    for message_id in (parsed.message_id, *parsed.in_reply_to, *parsed.references):
        assert message_id[0] + message_id[-1] == "<>"
        assert "@" in message_id
        assert message_id.isascii()
        assert " " not in message_id
    assert parsed.date is None or parsed.date.tzinfo is UTC
    assert all(p == p.lower() and "@" in p for p in parsed.participants())
    assert len(parsed.subject) <= 998


@pytest.mark.skipif(not CORPUS_FILES, reason=f"CPython email test corpus not shipped at {CORPUS}")
@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: p.name)
def test_cpython_corpus_parses_or_is_refused(path: Path) -> None:
    try:
        parsed = parse_message(path.read_bytes())
    except UnparseableMessage:
        return
    assert_well_formed(parsed)


@pytest.mark.skipif(not CORPUS_FILES, reason=f"CPython email test corpus not shipped at {CORPUS}")
def test_cpython_corpus_is_mostly_usable_and_defects_are_reported() -> None:
    parsed, refusals = [], []
    for path in CORPUS_FILES:
        try:
            parsed.append(parse_message(path.read_bytes()))
        except UnparseableMessage as refused:
            refusals.append(str(refused))
    assert set(refusals) <= {"no sender"}
    assert len(parsed) >= 35
    assert sum(bool(p.defects) for p in parsed) >= 5


@pytest.mark.skipif(not (CORPUS / "msg_07.txt").exists(), reason="CPython corpus missing")
def test_corpus_multipart_with_image_gives_text_and_attachment() -> None:
    parsed = parse_message((CORPUS / "msg_07.txt").read_bytes())

    assert parsed.sender == Address("barry@digicool.com", "Barry")
    assert parsed.subject == "Here is your dingus fish"
    assert parsed.text.startswith("Hi there,")
    assert [a.content_type for a in parsed.attachments] == ["image/gif"]
    assert parsed.attachments[0].content.startswith(b"GIF8")


def test_plain_message_fields() -> None:
    raw = message(
        "To: Support <Support@Acme.test>, bob@example.org",
        "Cc: =?utf-8?q?J=C3=B6rg?= <joerg@example.de>",
        "Reply-To: replies@example.com",
        "Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?= and thanks",
        "Message-ID: <abc@mail.example.com>",
        "In-Reply-To: <parent@acme.test>",
        "References: <root@acme.test>\r\n <parent@acme.test>",
        "Date: Tue, 01 Oct 2024 12:00:00 +0200",
        "Delivered-To: Support@Acme.test",
        "X-Original-To: alias@acme.test",
    )
    parsed = parse_message(raw)

    assert parsed.sender == Address("ann@example.com", "Ann")
    assert parsed.to == (Address("support@acme.test", "Support"), Address("bob@example.org"))
    assert parsed.cc == (Address("joerg@example.de", "Jörg"),)
    assert parsed.reply_to == (Address("replies@example.com"),)
    assert parsed.subject == "Grüße and thanks"
    assert parsed.message_id == "<abc@mail.example.com>"
    assert parsed.in_reply_to == ("<parent@acme.test>",)
    assert parsed.references == ("<root@acme.test>", "<parent@acme.test>")
    assert parsed.date == datetime(2024, 10, 1, 10, 0, tzinfo=UTC)
    assert parsed.envelope_recipients == ("support@acme.test", "alias@acme.test")
    assert parsed.text == "Hello.\n"
    assert parsed.participants() == (
        "ann@example.com",
        "replies@example.com",
        "support@acme.test",
        "bob@example.org",
        "joerg@example.de",
    )
    assert (parsed.auto_submitted, parsed.bulk, parsed.attachments) == (False, False, ())


def test_encoded_newline_in_subject_cannot_leak_a_header() -> None:
    parsed = parse_message(message("Subject: =?UTF-8?Q?hi=0ABcc:_x@evil?=", "To: a@acme.test"))

    assert parsed.subject == "hi Bcc: x@evil"
    assert parsed.cc == ()
    assert "x@evil" not in parsed.participants()


def test_encoded_newline_in_display_name_is_flattened() -> None:
    parsed = parse_message(message(sender="=?utf-8?q?Ann=0D=0ABcc:_x@evil?= <ann@example.com>"))

    assert parsed.sender == Address("ann@example.com", "Ann Bcc: x@evil")


def test_subject_controls_are_collapsed_and_length_capped() -> None:
    subject = "=?utf-8?q?a=09=09b=00c?= " + "x" * 2000
    parsed = parse_message(message(f"Subject: {subject}"))

    assert parsed.subject.startswith("a b c x")
    assert len(parsed.subject) == 998


def test_raw_eight_bit_headers_are_read_as_utf8() -> None:
    raw = "From: Jörg <j@example.de>\r\nSubject: Grüße\r\n\r\nbody\r\n".encode()

    parsed = parse_message(raw)

    assert (parsed.sender.name, parsed.subject) == ("Jörg", "Grüße")


@pytest.mark.parametrize(
    "sender",
    ["", "undisclosed-recipients:;", "not an address", "<>", "ann@", "@example.com"],
)
def test_message_without_usable_sender_is_unparseable(sender: str) -> None:
    with pytest.raises(UnparseableMessage, match="no sender"):
        parse_message(message(sender=sender))


def test_message_without_from_header_is_unparseable() -> None:
    with pytest.raises(UnparseableMessage, match="no sender"):
        parse_message(b"Subject: hi\r\n\r\nbody\r\n")


@pytest.mark.parametrize("header", ["", "Message-ID:", "Message-ID: <>", "Message-ID: junk"])
def test_missing_or_invalid_message_id_is_derived_from_the_bytes(header: str) -> None:
    raw = message(header) if header else message()
    parsed = parse_message(raw)

    assert parsed.message_id.endswith("@inboxflow.invalid>")
    assert parse_message(raw).message_id == parsed.message_id
    assert parse_message(raw + b"!").message_id != parsed.message_id


def test_bare_message_ids_are_bracketed_and_repeated_ones_dropped() -> None:
    parsed = parse_message(
        message("Message-ID: bare@host.test", "References: a@b.test c@d.test a@b.test")
    )

    assert parsed.message_id == "<bare@host.test>"
    assert parsed.references == ("<a@b.test>", "<c@d.test>")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Date: Tue, 01 Oct 2024 12:00:00 -0000", datetime(2024, 10, 1, 12, tzinfo=UTC)),
        ("Date: 1 Oct 2024 23:30 -0130", datetime(2024, 10, 2, 1, 0, tzinfo=UTC)),
        ("Date: yesterday", None),
        ("Date: Tue, 01 Oct 99999 12:00:00 +0000", None),
        ("X-No-Date: 1", None),
    ],
)
def test_dates_are_utc_or_none(header: str, expected: datetime | None) -> None:
    assert parse_message(message(header)).date == expected


def test_html_only_message_gets_text_without_markup() -> None:
    body = (
        "<html><head><title>T</title><style>p {color: red}</style></head><body>"
        "<p>Hello&nbsp;<b>World</b> &amp; you</p><script>alert('x')</script>"
        "<div>line&#10;two<br>three</div><!-- hidden --></body></html>"
    )
    parsed = parse_message(message("Content-Type: text/html; charset=utf-8", body=body))

    assert parsed.text == "Hello World & you\n\nline\ntwo\nthree"
    assert "<script>" in (parsed.html or "")


def test_html_to_text_is_linear_on_unclosed_markup() -> None:
    started = time.perf_counter()
    for hostile in ("<!--" * 100_000, "<script" * 100_000, "<a" * 100_000, "<!" * 100_000):
        assert isinstance(html_to_text(hostile + "tail"), str)
    assert time.perf_counter() - started < 5


def test_alternative_prefers_plain_text_and_keeps_html() -> None:
    body = (
        "--b\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n\r\nGr=FC=DFe\r\n"
        "--b\r\nContent-Type: text/html\r\n\r\n<p>HTML</p>\r\n--b--\r\n"
    )
    raw = message('Content-Type: multipart/alternative; boundary="b"', body=body)

    parsed = parse_message(raw)

    assert parsed.text == "Grüße"
    assert parsed.html == "<p>HTML</p>"


@pytest.mark.parametrize("charset", ["x-unknown", "rot13", "idna", "base64", "utf-8"])
def test_unknown_or_unusable_charsets_degrade_to_replacement(charset: str) -> None:
    headers = (f"Content-Type: text/plain; charset={charset}", "Content-Transfer-Encoding: 8bit")
    raw = message(*headers, body="BODY").replace(b"BODY", b"caf\xe9\xff")

    parsed = parse_message(raw)

    assert parsed.text.startswith("caf")
    parsed.text.encode("utf-8")


def test_broken_multipart_degrades_to_its_raw_text() -> None:
    body = "--nope\r\nContent-Type: text/plain\r\n\r\nstill readable\r\n"
    raw = message("Content-Type: multipart/mixed", body=body)

    parsed = parse_message(raw)

    assert "still readable" in parsed.text
    assert "NoBoundaryInMultipartDefect" in parsed.defects


def test_attachments_by_disposition_filename_and_type() -> None:
    body = (
        "--b\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n"
        "--b\r\nContent-Type: text/plain\r\nContent-Disposition: attachment\r\n\r\nnotes\r\n"
        '--b\r\nContent-Type: application/pdf; name="..\\\\..\\\\evil.pdf"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n"
        "--b\r\nContent-Type: image/png\r\nContent-Disposition: inline;"
        " filename*=utf-8''%E2%82%AC%20logo.png\r\n\r\npng\r\n"
        "--b\r\nContent-Type: message/rfc822\r\n\r\nFrom: x@y.test\r\nSubject: fwd\r\n\r\ninner\r\n"
        "--b--\r\n"
    )
    parsed = parse_message(message('Content-Type: multipart/mixed; boundary="b"', body=body))

    assert parsed.text == "See attached."
    assert [(a.filename, a.content_type) for a in parsed.attachments] == [
        ("", "text/plain"),
        ("evil.pdf", "application/pdf"),
        ("€ logo.png", "image/png"),
        ("", "message/rfc822"),
    ]
    assert parsed.attachments[1].content == b"%PDF-"
    assert parsed.attachments[1].size == 5
    assert b"Subject: fwd" in parsed.attachments[3].content
    assert parsed.sender.address == "ann@example.com"


@pytest.mark.parametrize(
    ("headers", "auto", "bulk"),
    [
        (["Auto-Submitted: auto-replied"], True, False),
        (["Auto-Submitted: No"], False, False),
        (["X-Autoreply: yes"], True, False),
        (["X-Autorespond: yes"], True, False),
        (["Precedence: bulk"], False, True),
        (["Precedence: junk"], False, True),
        (["Precedence: first-class"], False, False),
        (["List-Id: <news.example.com>"], False, True),
        (["List-Unsubscribe: <mailto:u@example.com>"], False, True),
    ],
)
def test_automatic_and_bulk_mail_is_flagged(headers: list[str], auto: bool, bulk: bool) -> None:
    parsed = parse_message(message(*headers))

    assert (parsed.auto_submitted, parsed.bulk) == (auto, bulk)


def test_snippet_collapses_whitespace_and_truncates() -> None:
    parsed = parse_message(message(body="  Hello,\r\n\r\n\tthis   is " + "long " * 100))

    assert parsed.snippet(20) == "Hello, this is long "
    assert parsed.snippet() == parsed.snippet(200)
    assert len(parsed.snippet()) == 200


def test_snippet_looks_past_leading_whitespace() -> None:
    parsed = parse_message(message(body=" " * 5000 + "late text"))

    assert parsed.snippet(5) == "late "


def wide(parts: int) -> bytes:
    body = "".join(f"--B\r\nContent-Type: text/plain\r\n\r\npart {i}\r\n" for i in range(parts))
    return message('Content-Type: multipart/mixed; boundary="B"', body=body + "--B--\r\n")


def deep(depth: int) -> bytes:
    opening = "".join(
        f"--B{i - 1}\r\nContent-Type: multipart/mixed; boundary=B{i}\r\n\r\n"
        for i in range(1, depth)
    )
    closing = "".join(f"--B{i}--\r\n" for i in reversed(range(depth)))
    body = opening + f"--B{depth - 1}\r\nContent-Type: text/plain\r\n\r\ndeep\r\n" + closing
    return message("Content-Type: multipart/mixed; boundary=B0", body=body)


def forwarded(depth: int) -> bytes:
    return message(*["Content-Type: message/rfc822\r\n"] * depth, body="From: a@b.test\r\n\r\nhi")


@pytest.mark.parametrize(
    "raw",
    [wide(20_000), deep(2_000), forwarded(2_000), forwarded(25), deep(21), wide(501)],
    ids=["20000-parts", "2000-deep", "2000-forwards", "25-forwards", "21-deep", "501-parts"],
)
def test_oversized_structures_are_refused_quickly(raw: bytes) -> None:
    started = time.perf_counter()
    with pytest.raises(UnparseableMessage):
        parse_message(raw)
    assert time.perf_counter() - started < 2


def test_size_limit_is_checked_first() -> None:
    with pytest.raises(UnparseableMessage, match="bytes"):
        parse_message(message(body="x" * 2000), mime.ParseLimits(max_bytes=1000))


def test_legitimate_structure_near_the_limits_parses() -> None:
    assert parse_message(wide(300)).text.count("part") == 300
    assert parse_message(deep(15)).text == "deep"
    dashes = parse_message(message(body="-----\r\n--B\r\n-- \r\n" * 1000))
    assert dashes.text.count("-----") == 1000


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("ann@example.com", Address("ann@example.com")),
        ("  Ann.Lee+tag@Example.COM ", Address("ann.lee+tag@example.com")),
        ("Ann Lee <ann@example.com>", Address("ann@example.com", "Ann Lee")),
        ('"Lee, Ann" <ann@mail.example.co.uk>', Address("ann@mail.example.co.uk", "Lee, Ann")),
        ("=?utf-8?q?J=C3=B6rg?= <j@example.de>", Address("j@example.de", "Jörg")),
        ("x@acme.test", Address("x@acme.test")),
    ],
)
def test_parse_address_accepts_one_mailbox(value: str, expected: Address) -> None:
    assert parse_address(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        "ann",
        "ann@",
        "@example.com",
        "ann@localhost",
        "ann@example..com",
        "ann@-example.com",
        "ann@example.com.",
        "a@b.test, c@d.test",
        "Group: a@b.test;",
        "ann@example.com <bob@evil.test>",
        "ann@example.org)<bob@example.org>",
        "ann lee@example.com",
        "jörg@example.de",
        "a" * 65 + "@example.com",
        "ann@" + "a" * 250 + ".com",
        "ann@[127.0.0.1]",
    ],
)
def test_parse_address_refuses_anything_else(value: str) -> None:
    with pytest.raises(InvalidAddress):
        parse_address(value)


@pytest.mark.parametrize(
    "value",
    [
        "ann@example.com\r\nBcc: x@evil.test",
        "ann@example.com\nBcc: x@evil.test",
        "ann@example.com\r",
        "ann@example.com\x00",
        "=?utf-8?q?Ann=0ABcc:_x?= <ann@example.com>",
    ],
)
def test_parse_address_reports_injection(value: str) -> None:
    with pytest.raises(HeaderInjection):
        parse_address(value)


def test_parse_address_list_parses_each_item() -> None:
    assert parse_address_list(["a@b.test", "C <c@d.test>"]) == (
        Address("a@b.test"),
        Address("c@d.test", "C"),
    )
    with pytest.raises(InvalidAddress):
        parse_address_list(["a@b.test", "nope"])
    with pytest.raises(TypeError):
        parse_address_list("a@b.test")


@given(st.text(max_size=80))
def test_parse_address_only_returns_or_refuses(value: str) -> None:
    try:
        address = parse_address(value)
    except (InvalidAddress, HeaderInjection):
        return
    assert addresses._ADDR_SPEC.fullmatch(address.address)
    assert address.address == address.address.lower()
    assert not mime.LINE_BREAKS.search(address.name)


WORD = r"[A-Za-z0-9]([A-Za-z0-9.'_-]{0,6}[A-Za-z0-9])?"
NAME = st.from_regex(rf"{WORD}( {{1,2}}{WORD}){{0,2}}", fullmatch=True)
SPEC = st.from_regex(
    r"[a-z0-9!#$%&'*+/=?^_`{|}~-]{1,8}@[a-z0-9]{1,8}(\.[a-z]{2,5}){0,2}", fullmatch=True
)
MAILBOX = st.one_of(SPEC, st.builds(lambda n, s: f"{n} <{s}>", NAME, SPEC))


@given(st.lists(MAILBOX, min_size=1, max_size=4))
def test_fast_address_path_agrees_with_the_header_registry(mailboxes: list[str]) -> None:
    value = ", ".join(mailboxes)
    registry = policy.default.header_factory("to", value).addresses

    assert addresses._simple_mailboxes(value) == [(m.display_name, m.addr_spec) for m in registry]


ENCODED_SUBJECTS = [
    "=?UTF-8?Q?hi=0ABcc:_x@evil?=",
    "=?x-unknown?q?caf=E9?=",
    "=?utf-8?b?!!!not-base64?=",
    "=?utf-8?q?a=00b=0D=0Ac?=",
    "=?utf-7?q?+2D3cAA-?=",
    "=?idna?q?xn--?=",
    "plain words",
]
CHARSETS = ["utf-8", "us-ascii", "iso-8859-1", "x-unknown", "utf-7", "idna", "rot13", '"', ""]
ENCODINGS = ["7bit", "8bit", "base64", "quoted-printable", "x-uuencode", "bogus"]
SENDERS = [
    "ann@example.com",
    "=?utf-8?q?A=0Ann?= <ann@example.com>",
    '"a, b" <ab@example.com>',
    "undisclosed-recipients:;",
    "garbage <",
    "",
]


@st.composite
def leaf(draw: st.DrawFn) -> bytes:
    ctype = draw(st.sampled_from(["text/plain", "text/html", "application/pdf", "message/rfc822"]))
    disposition = draw(
        st.sampled_from(
            ["", "attachment", 'inline; filename="a/../b.txt"', "attachment; filename*=x''%FF"]
        )
    )
    body = draw(
        st.binary(max_size=120) | st.text(max_size=120).map(lambda t: t.encode("utf-8", "replace"))
    )
    headers = [
        f"Content-Type: {ctype}; charset={draw(st.sampled_from(CHARSETS))}",
        f"Content-Transfer-Encoding: {draw(st.sampled_from(ENCODINGS))}",
    ] + ([f"Content-Disposition: {disposition}"] if disposition else [])
    return "\r\n".join(headers).encode() + b"\r\n\r\n" + body


def multipart(children: list[bytes], boundary: str, subtype: str, breakage: str) -> bytes:
    declared = "" if breakage == "undeclared" else f'; boundary="{boundary}"'
    used = boundary + "x" if breakage == "mismatched" else boundary
    body = b"".join(f"--{used}\r\n".encode() + child + b"\r\n" for child in children)
    closing = b"" if breakage == "unclosed" else f"--{used}--\r\n".encode()
    return f"Content-Type: multipart/{subtype}{declared}\r\n\r\n".encode() + body + closing


TREE = st.recursive(
    leaf(),
    lambda children: st.builds(
        multipart,
        st.lists(children, max_size=4),
        st.text("abcXYZ0-9'()+_,./:=? ", min_size=1, max_size=12),
        st.sampled_from(["mixed", "alternative", "related", "digest"]),
        st.sampled_from(["ok", "ok", "undeclared", "mismatched", "unclosed"]),
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    tree=TREE,
    subject=st.sampled_from(ENCODED_SUBJECTS) | st.text(max_size=40),
    sender=st.sampled_from(SENDERS),
    header_only=st.booleans(),
    newline=st.sampled_from([b"\r\n", b"\n"]),
)
def test_generated_mime_trees_parse_or_are_refused(
    tree: bytes, subject: str, sender: str, header_only: bool, newline: bytes
) -> None:
    head = f"From: {sender}\r\nSubject: {subject}\r\nMessage-ID: <{subject}>\r\n"
    raw = head.encode("utf-8", "surrogateescape") + (
        tree.split(b"\r\n\r\n")[0] if header_only else tree
    )
    try:
        parsed = parse_message(raw.replace(b"\r\n", newline))
    except UnparseableMessage:
        return
    assert_well_formed(parsed)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_arbitrary_bytes_after_a_sender_parse_or_are_refused(noise: bytes) -> None:
    try:
        parsed = parse_message(b"From: ann@example.com\r\n" + noise)
    except UnparseableMessage:
        return
    assert_well_formed(parsed)


@pytest.mark.parametrize("raw", [wide(20_000), deep(2_000), deep(21)], ids=["wide", "deep", "21"])
def test_oversized_structures_never_reach_the_stdlib_parser(
    raw: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[object] = []
    monkeypatch.setattr(mime, "BytesParser", lambda **kwargs: calls.append(kwargs))

    with pytest.raises(UnparseableMessage):
        parse_message(raw)
    assert calls == []
