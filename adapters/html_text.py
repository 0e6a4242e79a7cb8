"""Readable text from an HTML body, for snippets and for mail without a text part."""

from __future__ import annotations

import html
import re

_BLOCK_TAGS = frozenset(("br", "p", "div", "li", "tr", "table", "h1", "h2", "h3", "hr", "pre"))
# every alternative, once started, consumes what it scanned: linear on unclosed markup
_MARKUP = re.compile(
    r"<(script|style|head|title)\b[^>]*(?:>|\Z).*?(?:</\1\s*>|\Z)"
    r"|<!--.*?(?:-->|\Z)|</?([a-zA-Z][\w:-]*)[^>]*(?:>|\Z)|<[!?][^>]*(?:>|\Z)",
    re.I | re.S,
)


def html_to_text(markup: str) -> str:
    """Readable text from HTML: tags, scripts and styles dropped, entities unescaped."""

    def replace(tag: re.Match[str]) -> str:
        return "\n" if (tag[2] or "").lower() in _BLOCK_TAGS else " "

    text = html.unescape(_MARKUP.sub(replace, " ".join(markup.split())))
    lines = (" ".join(line.split()) for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
