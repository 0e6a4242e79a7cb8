"""Inbound mail: raw RFC 5322 bytes to domain values, never crashing the caller.

The tree is parsed with `policy.compat32` (several times faster, notes/performance.md); encoded
words and address lists go through `policy.default`'s header registry unless trivially plain
(`adapters.addresses`, `adapters.header_text`). Public names of those modules stay importable here.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import Message
from email.parser import BytesParser
from email.utils import parsedate_to_datetime

from adapters.addresses import (
    Address,
    envelope_addresses,
    header_addresses,
    parse_address,
    parse_address_list,
)
from adapters.header_text import HEADERS, LINE_BREAKS, SURROGATES, single_line, unfold
from adapters.html_text import html_to_text
from domain.errors import UnparseableMessage

__all__ = [
    "LINE_BREAKS",
    "Address",
    "Attachment",
    "ParseLimits",
    "ParsedMessage",
    "html_to_text",
    "parse_address",
    "parse_address_list",
    "parse_message",
    "single_line",
    "text_excerpt",
]

_BOUNDARY = re.compile(rb'boundary\*?\s*=\s*(?:"([^"\r\n]{1,200})"|([^\s;"]{1,200}))', re.I)
_DASH_LINE = re.compile(rb"^--([^\r\n]*)", re.M)
_NESTED_MESSAGE = re.compile(rb"^content-type:\s*message/", re.I | re.M)
_MSG_ID = re.compile(r"<([!-;=?-~]+)>")
TEXT_EXCERPT = 4000  # characters of a message's text its events carry, for search


def text_excerpt(text: str, n: int = TEXT_EXCERPT) -> str:
    """The first `n` characters of `text` with whitespace collapsed, without scanning it all."""
    collapsed = " ".join(text[: 4 * n + 1024].split())
    if len(collapsed) < n < len(text):
        collapsed = " ".join(text.split())
    return collapsed[:n]


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
        return text_excerpt(self.text, n)

    def participants(self) -> tuple[str, ...]:
        everyone = (self.sender, *self.reply_to, *self.to, *self.cc)
        return tuple(dict.fromkeys(a.address.lower() for a in everyone))


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
        headers.setdefault(name.lower(), []).append(unfold(value))
    senders = header_addresses(headers.get("from", [])[:1])
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
        reply_to=header_addresses(headers.get("reply-to", [])),
        to=header_addresses(headers.get("to", [])),
        cc=header_addresses(headers.get("cc", [])),
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
    return SURROGATES.sub("\ufffd", text)


def _filename(part: Message) -> str:
    name = part.get_filename()
    if not name:
        return ""
    decoded = single_line(str(HEADERS("x-filename", unfold(str(name)))))
    return re.split(r"[\\/]", decoded)[-1].strip()[:255]


def _subject(value: str) -> str:
    return single_line(str(HEADERS("subject", value)) if "=?" in value else value)[:998]


def _message_ids(values: list[str]) -> tuple[str, ...]:
    joined = " ".join(values)
    ids = [f"<{i}>" for i in _MSG_ID.findall(joined)]
    if not ids and "<" not in joined:
        ids = [f"<{token}>" for token in joined.split() if _MSG_ID.fullmatch(f"<{token}>")]
    return tuple(dict.fromkeys(i for i in ids if "@" in i and len(i) <= 998))


def _envelope(headers: dict[str, list[str]]) -> tuple[str, ...]:
    return envelope_addresses(headers.get("delivered-to", []) + headers.get("x-original-to", []))


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
