"""Email addresses: strictly parsed when a user types them, leniently read from inbound mail."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from email.charset import Charset
from email.errors import HeaderParseError
from email.utils import getaddresses, parseaddr

from adapters.header_text import (
    BREAK_RUNS,
    ENCODED_WORD,
    HEADERS,
    LINE_BREAKS,
    SURROGATES,
    decoded,
    single_line,
)
from domain.errors import HeaderInjection, InvalidAddress

# RFC 2047: white space between adjacent encoded words is not part of a display name
_ADJACENT_WORDS = re.compile(r"\?=\s+=\?")
_UTF8 = Charset("utf-8")
# what policy.default's address parser raises on junk in 3.11 besides returning defects
_REGISTRY_FAILURES = (HeaderParseError, AttributeError, IndexError, TypeError, ValueError)
_BAD_MAILBOX = re.compile(r"[\s\x00-\x1f\x7f<>]")
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_ADDR_SPEC = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})+")
_SPEC = rf"{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})*"
_SIMPLE_MAILBOX = re.compile(rf"\s*(?:([\w.'-]+(?:[ \t]+[\w.'-]+)*)\s*<({_SPEC})>|({_SPEC}))\s*")


@dataclass(frozen=True)
class Address:
    """A mailbox: lower-cased address and decoded display name."""

    address: str
    name: str = ""


def parse_address(value: str) -> Address:
    """Strictly parse exactly one mailbox typed by a user."""
    if LINE_BREAKS.search(value):
        raise HeaderInjection(f"address contains a line break or NUL: {value!r}")
    if any(LINE_BREAKS.search(decoded(word)) for word in ENCODED_WORD.finditer(value)):
        raise HeaderInjection(f"display name decodes to a line break: {value!r}")
    try:
        header = HEADERS("to", value)
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


def header_addresses(values: list[str]) -> tuple[Address, ...]:
    """The mailboxes of inbound address headers, deduplicated; junk is dropped, never raised."""
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


def envelope_addresses(values: list[str]) -> tuple[str, ...]:
    """Bare addresses of `Delivered-To` / `X-Original-To` values."""
    found = (parseaddr(value)[1].lower() for value in values)
    return tuple(dict.fromkeys(a for a in found if "@" in a and not _BAD_MAILBOX.search(a)))


def _registry_mailboxes(value: str) -> list[tuple[str, str]]:
    attempt = _ADJACENT_WORDS.sub("?==?", value)
    for _ in range(2):
        try:
            parsed = HEADERS("to", attempt).addresses
        except _REGISTRY_FAILURES:
            attempt = ENCODED_WORD.sub(_reencode, attempt)
            continue
        return [(m.display_name, m.addr_spec) for m in parsed if m.username and m.domain]
    pairs = getaddresses([attempt])
    return [(str(HEADERS("subject", n)), a) for n, a in pairs if re.fullmatch(r".+@.+", a)]


def _reencode(word: re.Match[str]) -> str:
    """An encoded word as one base64 word of flattened text, which no parser can misread."""
    text = BREAK_RUNS.sub(" ", SURROGATES.sub("\ufffd", decoded(word)))
    return _UTF8.header_encode(text) if text else ""


def _simple_mailboxes(value: str) -> list[tuple[str, str]] | None:
    """Plain `name <a@b>` or `a@b` lists read without the registry's cost; None otherwise."""
    mailboxes = []
    for item in value.split(","):
        match = _SIMPLE_MAILBOX.fullmatch(item)
        if match is None:
            return None
        mailboxes.append((" ".join((match[1] or "").split()), match[2] or match[3]))
    return mailboxes
