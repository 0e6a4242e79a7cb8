"""Header text made safe: one line, no NULs or lone surrogates, encoded words decoded."""

from __future__ import annotations

import re
from email import policy

LINE_BREAKS = re.compile("[\r\n\x00\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
BREAK_RUNS = re.compile("[\r\n\t\x00\x0b\x0c\x1c-\x1e\x85\u2028\u2029]+")
SURROGATES = re.compile("[\ud800-\udfff]")
ENCODED_WORD = re.compile(r"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")
HEADERS = policy.default.header_factory


def single_line(text: str) -> str:
    """Header text made safe: line breaks, tabs and NULs become one space, ends stripped."""
    return BREAK_RUNS.sub(" ", SURROGATES.sub("\ufffd", text)).strip()


def unfold(value: str) -> str:
    value = value.replace("\r", "").replace("\n", "")
    if SURROGATES.search(value):
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return value


def decoded(word: re.Match[str]) -> str:
    """One RFC 2047 encoded word as text."""
    return str(HEADERS("subject", word[0]))
