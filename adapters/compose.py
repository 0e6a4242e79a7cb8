"""Outgoing mail: validated values to RFC 5322 bytes, refusing anything that could inject."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.charset import Charset
from email.message import EmailMessage
from email.utils import format_datetime

from adapters.mime import LINE_BREAKS, Address, Attachment, parse_address, single_line
from domain.errors import HeaderInjection, InvalidAddress, InvalidInput

SHORT_REF = re.compile(r"\[#([A-Z2-7]{10})\]")
# headers set raw are never refolded, so a long message id cannot become an encoded word
_SMTP = policy.SMTP.clone(refold_source="none")
_UTF8 = Charset("utf-8")
_MSG_ID = re.compile(r"<([!-;=?-~]+)>")
_FIELD_NAME = re.compile(r"[!-9;-~]+")
_CONTENT_TYPE = re.compile(r"[\w.+-]+/[\w.+-]+")
_DOMAIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")
_HEADER_LINE = re.compile(rb"^([^\s:]+):", re.M)
_REPLY_PREFIXES = re.compile(r"^(?:\s*(?:re|aw|sv|antw)\s*(?:\[\d+\])?\s*:)+\s*", re.I)
_FORWARD_PREFIXES = re.compile(r"^(?:\s*(?:fwd?|wg|tr)\s*(?:\[\d+\])?\s*:)+\s*", re.I)
_MANAGED = re.compile(
    r"from|to|b?cc|subject|date|message-id|in-reply-to|references|mime-version|content-.*", re.I
)


@dataclass(frozen=True)
class OutgoingMessage:
    """Everything needed to serialise one outgoing email."""

    sender: Address
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    subject: str
    body_text: str
    body_html: str | None
    message_id: str
    date: datetime
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    extra_headers: tuple[tuple[str, str], ...] = ()


def compose(message: OutgoingMessage) -> bytes:
    """Serialise an outgoing message; raise `HeaderInjection` rather than repair a header."""
    _validate(message)
    email = EmailMessage(policy=_SMTP)
    email.set_raw("From", _mailboxes((message.sender,)))
    if message.to:
        email.set_raw("To", _mailboxes(message.to))
    if message.cc:
        email.set_raw("Cc", _mailboxes(message.cc))
    _set_text(email, "Subject", message.subject)
    email["Date"] = format_datetime(message.date)
    email.set_raw("Message-ID", message.message_id)
    if message.in_reply_to:
        email.set_raw("In-Reply-To", message.in_reply_to)
    if message.references:
        email.set_raw("References", "\r\n ".join(message.references))
    for name, value in message.extra_headers:
        email[name] = value
    for name, _ in message.extra_headers:
        if any(LINE_BREAKS.search(str(value)) for value in email.get_all(name, [])):
            raise HeaderInjection(f"{name} decodes to a value with a line break")
    _add_bodies(email, message)
    return _checked(email.as_bytes(), [name.lower() for name in email])


def make_message_id(seed: str, domain: str) -> str:
    """A Message-ID derived from `seed`, stable across retries of the same send."""
    if LINE_BREAKS.search(domain):
        raise HeaderInjection(f"domain contains a line break or NUL: {domain!r}")
    if not _DOMAIN.fullmatch(domain):
        raise InvalidInput(f"not a domain: {domain!r}")
    return f"<{hashlib.sha256(seed.encode()).hexdigest()[:32]}@{domain}>"


def reply_subject(subject: str, ref_token: str) -> str:
    """`Re: <subject> [#TOKEN]` without stacking prefixes or tokens."""
    return _prefixed("Re:", _REPLY_PREFIXES, subject, ref_token)


def forward_subject(subject: str, ref_token: str) -> str:
    """`Fwd: <subject> [#TOKEN]` without stacking prefixes or tokens."""
    return _prefixed("Fwd:", _FORWARD_PREFIXES, subject, ref_token)


def find_ref_tokens(subject: str) -> list[str]:
    """Reference tokens found in a subject, first occurrence order."""
    return list(dict.fromkeys(SHORT_REF.findall(subject)))


def _prefixed(prefix: str, prefixes: re.Pattern[str], subject: str, ref_token: str) -> str:
    tag = f"[#{ref_token}]"
    if not SHORT_REF.fullmatch(tag):
        raise ValueError(f"not a reference token: {ref_token!r}")
    text = prefixes.sub("", single_line(subject), count=1)
    return " ".join(part for part in (prefix, text, "" if tag in text else tag) if part)


def _validate(message: OutgoingMessage) -> None:
    people = (message.sender, *message.to, *message.cc)
    ids = (message.message_id, *filter(None, [message.in_reply_to]), *message.references)
    values = [("subject", message.subject), *(("message id", i) for i in ids)]
    values += [("address", p.address) for p in people] + [("name", p.name) for p in people]
    values += [(f"header {n!r}", f"{n}{v}") for n, v in message.extra_headers]
    values += [("attachment", a.filename + a.content_type) for a in message.attachments]
    for what, value in values:
        if LINE_BREAKS.search(value):
            raise HeaderInjection(f"{what} contains a line break or NUL: {value!r}")
    for name, _ in message.extra_headers:
        if not _FIELD_NAME.fullmatch(name) or _MANAGED.fullmatch(name):
            raise HeaderInjection(f"header {name!r} cannot be set as an extra header")
    if not message.to and not message.cc:
        raise InvalidAddress("an outgoing message needs at least one recipient")
    for person in people:
        parse_address(person.address)
    for message_id in ids:
        match = _MSG_ID.fullmatch(message_id)
        if match is None or "@" not in match[1]:
            raise InvalidInput(f"not a message id: {message_id!r}")
    if message.date.utcoffset() is None:
        raise ValueError("the date of an outgoing message must be timezone-aware")


def _mailboxes(people: tuple[Address, ...]) -> str:
    """An address list built here: the 3.11 folder can encode the separating comma."""
    return ",\r\n ".join(_mailbox(person) for person in people)


def _mailbox(person: Address) -> str:
    address, name = parse_address(person.address).address, person.name
    if not name:
        return address
    if name.isascii() and name.isprintable() and "=?" not in name:
        quoted = name.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{quoted}" <{address}>'
    return f"{_encoded_words(name)} <{address}>"


def _set_text(email: EmailMessage, name: str, text: str) -> None:
    if text.isascii() and text.isprintable() and "=?" not in text:
        email[name] = text
    else:
        email.set_raw(name, _encoded_words(text))


def _encoded_words(text: str) -> str:
    """Text as short base64 encoded words, literal even if it looks like an encoded word."""
    words = [_UTF8.header_encode(text[i : i + 10]) for i in range(0, len(text), 10)]
    return "\r\n ".join(words)


def _add_bodies(email: EmailMessage, message: OutgoingMessage) -> None:
    email.set_content(message.body_text)
    if message.body_html is not None:
        email.add_alternative(message.body_html, subtype="html")
    for attachment in message.attachments:
        ctype = attachment.content_type.lower()
        if not _CONTENT_TYPE.fullmatch(ctype):
            ctype = "application/octet-stream"
        maintype, subtype = ctype.split("/")
        email.add_attachment(
            attachment.content, maintype=maintype, subtype=subtype, filename=attachment.filename
        )


def _checked(data: bytes, expected: list[str]) -> bytes:
    """The serialised header block must hold exactly the headers that were set."""
    head = data.split(b"\r\n\r\n", 1)[0]
    names = [name.decode("ascii", "replace").lower() for name in _HEADER_LINE.findall(head)]
    if sorted(names) != sorted(expected):
        raise HeaderInjection(f"serialised headers {names} differ from those set {expected}")
    return data
