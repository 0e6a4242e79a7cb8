"""Inbound mail: raw RFC 5322 bytes to domain values, never crashing the caller.

The tree is parsed with `policy.compat32` (several times faster, notes/performance.md); encoded
words and address lists go through `policy.default`'s header registry unless trivially plain.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.charset import Charset
from email.errors import HeaderParseError
from email.message import Message
from email.parser import BytesParser
from email.utils import getaddresses, parseaddr, parsedate_to_datetime

from domain.errors import HeaderInjection, InvalidAddress, UnparseableMessage

LINE_BREAKS = re.compile("[\r\n\x00\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
_BREAK_RUNS = re.compile("[\r\n\t\x00\x0b\x0c\x1c-\x1e\x85\u2028\u2029]+")
_SURROGATES = re.compile("[\ud800-\udfff]")
_BOUNDARY = re.compile(rb'boundary\*?\s*=\s*(?:"([^"\r\n]{1,200})"|([^\s;"]{1,200}))', re.I)
_DASH_LINE = re.compile(rb"^--([^\r\n]*)", re.M)
_NESTED_MESSAGE = re.compile(rb"^content-type:\s*message/", re.I | re.M)
_MSG_ID = re.compile(r"<([!-;=?-~]+)>")
# RFC 2047: white space between adjacent encoded words is not part of a display name
_ADJACENT_WORDS = re.compile(r"\?=\s+=\?")
_ENCODED_WORD = re.compile(r"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")
_UTF8 = Charset("utf-8")
# what policy.default's address parser raises on junk in 3.11 besides returning defects
_REGISTRY_FAILURES = (HeaderParseError, AttributeError, IndexError, TypeError, ValueError)
_BAD_MAILBOX = re.compile(r"[\s\x00-\x1f\x7f<>]")
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_ADDR_SPEC = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})+")
_SPEC = rf"{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})*"
_SIMPLE_MAILBOX = re.compile(rf"\s*(?:([\w.'-]+(?:[ \t]+[\w.'-]+)*)\s*<({_SPEC})>|({_SPEC}))\s*")
_BLOCK_TAGS = frozenset(("br", "p", "div", "li", "tr", "table", "h1", "h2", "h3", "hr", "pre"))
# every alternative, once started, consumes what it scanned: linear on unclosed markup
_MARKUP = re.compile(
    r"<(script|style|head|title)\b[^>]*(?:>|\Z).*?(?:</\1\s*>|\Z)"
    r"|<!--.*?(?:-->|\Z)|</?([a-zA-Z][\w:-]*)[^>]*(?:>|\Z)|<[!?][^>]*(?:>|\Z)",
    re.I | re.S,
)
_HEADERS = policy.default.header_factory


@dataclass(frozen=True)
class Address:
    """A mailbox: lower-cased address and decoded display name."""

    address: str
    name: str = ""


@dataclass(frozen=True)
class Attachment:
    """A file carried by a message."""

    filename: str
    content_type: str
    content: bytes

    @property
    def size(self) -> int:
        return len(self.content)


@dataclass(frozen=True)
class ParseLimits:
    """Bounds checked before and during parsing."""

    max_bytes: int = 25 * 1024 * 1024
    max_parts: int = 500
    max_depth: int = 20


@dataclass(frozen=True)
class ParsedMessage:
    """What the domain needs from one inbound message."""

    message_id: str
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    sender: Address
    reply_to: tuple[Address, ...]
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    envelope_recipients: tuple[str, ...]
    subject: str
    date: datetime | None
    text: str
    html: str | None
    attachments: tuple[Attachment, ...]
    auto_submitted: bool
    bulk: bool
    defects: tuple[str, ...]

    def snippet(self, n: int = 200) -> str:
        collapsed = " ".join(self.text[: 4 * n + 1024].split())
        if len(collapsed) < n < len(self.text):
            collapsed = " ".join(self.text.split())
        return collapsed[:n]

    def participants(self) -> tuple[str, ...]:
        everyone = (self.sender, *self.reply_to, *self.to, *self.cc)
        return tuple(dict.fromkeys(a.address.lower() for a in everyone))


def single_line(text: str) -> str:
    """Header text made safe: line breaks, tabs and NULs become one space, ends stripped."""
    return _BREAK_RUNS.sub(" ", _SURROGATES.sub("\ufffd", text)).strip()


def parse_message(raw: bytes, limits: ParseLimits = ParseLimits()) -> ParsedMessage:
    """Parse inbound bytes; anything unusable raises `UnparseableMessage`."""
    _check_shape(raw, limits)
    try:
        return _parse(raw, limits)
    except UnparseableMessage:
        raise
    except RecursionError:
        raise UnparseableMessage("message is nested too deeply") from None
    # the stdlib parser has no closed set of exceptions on hostile input; quarantine, never crash
    except Exception as exc:
        raise UnparseableMessage(f"{type(exc).__name__}: {exc}") from exc


def parse_address(value: str) -> Address:
    """Strictly parse exactly one mailbox typed by a user."""
    if LINE_BREAKS.search(value):
        raise HeaderInjection(f"address contains a line break or NUL: {value!r}")
    if any(LINE_BREAKS.search(_decoded(word)) for word in _ENCODED_WORD.finditer(value)):
        raise HeaderInjection(f"display name decodes to a line break: {value!r}")
    try:
        header = _HEADERS("to", value)
        groups = header.groups
    except _REGISTRY_FAILURES:
        raise InvalidAddress(f"not an address: {value!r}") from None
    if header.defects or len(groups) != 1 or groups[0].display_name is not None:
        raise InvalidAddress(f"not exactly one address: {value!r}")
    mailboxes = groups[0].addresses
    if len(mailboxes) != 1 or not _ADDR_SPEC.fullmatch(mailboxes[0].addr_spec):
        raise InvalidAddress(f"not a valid address: {value!r}")
    mailbox = mailboxes[0]
    if len(mailbox.addr_spec) > 254 or len(mailbox.username) > 64:
        raise InvalidAddress(f"address too long: {value!r}")
    return Address(mailbox.addr_spec.lower(), mailbox.display_name.strip())


def parse_address_list(values: Sequence[str]) -> tuple[Address, ...]:
    """Strictly parse several user-typed mailboxes, one per item."""
    if isinstance(values, str):
        raise TypeError("expected a sequence of addresses, not one string")
    return tuple(parse_address(value) for value in values)


def _check_shape(raw: bytes, limits: ParseLimits) -> None:
    if len(raw) > limits.max_bytes:
        raise UnparseableMessage(f"message is {len(raw)} bytes, limit {limits.max_bytes}")
    boundaries = {quoted or token for quoted, token in _BOUNDARY.findall(raw)}
    if len(boundaries) + len(_NESTED_MESSAGE.findall(raw)) > limits.max_parts:
        raise UnparseableMessage("too many MIME parts")
    open_: list[bytes] = []
    parts = 0
    for match in _DASH_LINE.finditer(raw) if boundaries else ():
        line = match.group(1).rstrip()
        if line in boundaries:
            parts += 1
            del open_[open_.index(line) if line in open_ else len(open_) :]
            open_.append(line)
        elif line[-2:] == b"--" and line[:-2] in open_:
            del open_[open_.index(line[:-2]) :]
        if parts > limits.max_parts or len(open_) > limits.max_depth:
            raise UnparseableMessage("too many MIME parts or nested too deeply")


def _parse(raw: bytes, limits: ParseLimits) -> ParsedMessage:
    message = BytesParser(policy=policy.compat32).parsebytes(raw)
    leaves, defects = _inventory(message, limits)
    headers: dict[str, list[str]] = {}
    for name, value in message.raw_items():
        headers.setdefault(name.lower(), []).append(_unfold(value))
    senders = _addresses(headers.get("from", [])[:1])
    if not senders:
        raise UnparseableMessage("no sender")
    ids = _message_ids(headers.get("message-id", []))
    text, html_body, attachments = _bodies(leaves)
    auto_submitted, bulk = _flags(headers)
    return ParsedMessage(
        message_id=ids[0] if ids else f"<{hashlib.sha256(raw).hexdigest()}@inboxflow.invalid>",
        in_reply_to=_message_ids(headers.get("in-reply-to", [])),
        references=_message_ids(headers.get("references", [])),
        sender=senders[0],
        reply_to=_addresses(headers.get("reply-to", [])),
        to=_addresses(headers.get("to", [])),
        cc=_addresses(headers.get("cc", [])),
        envelope_recipients=_envelope(headers),
        subject=_subject(headers.get("subject", [""])[0]),
        date=_date(headers.get("date", [""])[0]),
        text=text,
        html=html_body,
        attachments=attachments,
        auto_submitted=auto_submitted,
        bulk=bulk,
        defects=tuple(dict.fromkeys(defects)),
    )


def _inventory(root: Message, limits: ParseLimits) -> tuple[list[Message], list[str]]:
    """Leaf parts (attached messages kept whole) and defect names, walked without recursion."""
    leaves: list[Message] = []
    defects: list[str] = []
    stack = [(root, 0, False)]
    count = 0
    while stack:
        part, depth, inside_message = stack.pop()
        count += 1
        if count > limits.max_parts or depth > limits.max_depth:
            raise UnparseableMessage("too many MIME parts or nested too deeply")
        defects.extend(type(defect).__name__ for defect in part.defects)
        payload = part.get_payload() if part.is_multipart() else []
        children = [child for child in payload if isinstance(child, Message)]
        is_message = bool(children) and part.get_content_maintype() == "message"
        if not inside_message and (is_message or not children):
            leaves.append(part)
        stack.extend((child, depth + 1, inside_message or is_message) for child in children[::-1])
    return leaves, defects


def _bodies(leaves: list[Message]) -> tuple[str, str | None, tuple[Attachment, ...]]:
    texts: list[str] = []
    html_body: str | None = None
    attachments: list[Attachment] = []
    for part in leaves:
        ctype, filename = part.get_content_type(), _filename(part)
        if part.is_multipart():
            content = b"".join(c.as_bytes() for c in part.get_payload() if isinstance(c, Message))
            attachments.append(Attachment(filename, ctype, content))
        elif part.get_content_disposition() == "attachment" or filename:
            attachments.append(Attachment(filename, ctype, _content(part)))
        elif ctype == "text/plain" or part.get_content_maintype() == "multipart":
            texts.append(_decode(part))
        elif ctype == "text/html" and html_body is None:
            html_body = _decode(part)
        else:
            attachments.append(Attachment(filename, ctype, _content(part)))
    fallback = "" if html_body is None else html_to_text(html_body)
    return "\n".join(texts) if texts else fallback, html_body, tuple(attachments)


def _content(part: Message) -> bytes:
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""


def _decode(part: Message) -> str:
    data = _content(part)
    charset = part.get_content_charset() or "utf-8"
    try:
        text = data.decode("utf-8" if charset in ("us-ascii", "ascii") else charset, "replace")
    except (LookupError, UnicodeError):
        text = data.decode("utf-8", "replace")
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "\ufffd")
    return _SURROGATES.sub("\ufffd", text)


def _filename(part: Message) -> str:
    name = part.get_filename()
    if not name:
        return ""
    decoded = single_line(str(_HEADERS("x-filename", _unfold(str(name)))))
    return re.split(r"[\\/]", decoded)[-1].strip()[:255]


def html_to_text(markup: str) -> str:
    """Readable text from HTML: tags, scripts and styles dropped, entities unescaped."""

    def replace(tag: re.Match[str]) -> str:
        return "\n" if (tag[2] or "").lower() in _BLOCK_TAGS else " "

    text = html.unescape(_MARKUP.sub(replace, " ".join(markup.split())))
    lines = (" ".join(line.split()) for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _unfold(value: str) -> str:
    value = value.replace("\r", "").replace("\n", "")
    if _SURROGATES.search(value):
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return value


def _subject(value: str) -> str:
    return single_line(str(_HEADERS("subject", value)) if "=?" in value else value)[:998]


def _addresses(values: list[str]) -> tuple[Address, ...]:
    if not values:
        return ()
    joined = ", ".join(values)
    mailboxes = _simple_mailboxes(joined)
    if mailboxes is None:
        mailboxes = _registry_mailboxes(joined)
    found: dict[str, Address] = {}
    for name, spec in mailboxes:
        if not _BAD_MAILBOX.search(spec):
            found.setdefault(spec.lower(), Address(spec.lower(), single_line(name)))
    return tuple(found.values())


def _registry_mailboxes(value: str) -> list[tuple[str, str]]:
    attempt = _ADJACENT_WORDS.sub("?==?", value)
    for _ in range(2):
        try:
            parsed = _HEADERS("to", attempt).addresses
        except _REGISTRY_FAILURES:
            attempt = _ENCODED_WORD.sub(_reencode, attempt)
            continue
        return [(m.display_name, m.addr_spec) for m in parsed if m.username and m.domain]
    pairs = getaddresses([attempt])
    return [(str(_HEADERS("subject", n)), a) for n, a in pairs if re.fullmatch(r".+@.+", a)]


def _reencode(word: re.Match[str]) -> str:
    """An encoded word as one base64 word of flattened text, which no parser can misread."""
    text = _BREAK_RUNS.sub(" ", _SURROGATES.sub("\ufffd", _decoded(word)))
    return _UTF8.header_encode(text) if text else ""


def _decoded(word: re.Match[str]) -> str:
    return str(_HEADERS("subject", word[0]))


def _simple_mailboxes(value: str) -> list[tuple[str, str]] | None:
    """Plain `name <a@b>` or `a@b` lists read without the registry's cost; None otherwise."""
    mailboxes = []
    for item in value.split(","):
        match = _SIMPLE_MAILBOX.fullmatch(item)
        if match is None:
            return None
        mailboxes.append((" ".join((match[1] or "").split()), match[2] or match[3]))
    return mailboxes


def _message_ids(values: list[str]) -> tuple[str, ...]:
    joined = " ".join(values)
    ids = [f"<{i}>" for i in _MSG_ID.findall(joined)]
    if not ids and "<" not in joined:
        ids = [f"<{token}>" for token in joined.split() if _MSG_ID.fullmatch(f"<{token}>")]
    return tuple(dict.fromkeys(i for i in ids if "@" in i and len(i) <= 998))


def _envelope(headers: dict[str, list[str]]) -> tuple[str, ...]:
    values = headers.get("delivered-to", []) + headers.get("x-original-to", [])
    found = (parseaddr(value)[1].lower() for value in values)
    return tuple(dict.fromkeys(a for a in found if "@" in a and not _BAD_MAILBOX.search(a)))


def _date(value: str) -> datetime | None:
    try:
        parsed = parsedate_to_datetime(value)
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _flags(headers: dict[str, list[str]]) -> tuple[bool, bool]:
    """(auto_submitted, bulk) from RFC 3834 and list headers."""
    auto = headers.get("auto-submitted", ["no"])[0].split(";")[0].strip().lower()
    replied = auto != "no" or "x-autoreply" in headers or "x-autorespond" in headers
    precedence = headers.get("precedence", [""])[0].strip().lower()
    listed = "list-id" in headers or "list-unsubscribe" in headers
    return replied, precedence in ("bulk", "junk", "list") or listed
