"""Free text: what the search keeps of an interaction's words, and how `q` becomes SQL.

Stored, case-folded: the subject, the contact's address and name (in the interaction's row),
and the text of every message in and out (`message_text` in the `texts` table: the excerpts
events carry, oldest first, of which only the last `MESSAGE_TEXT_CAP` characters are kept).
On PostgreSQL the `texts` row also keeps `search_vector`, `to_tsvector('simple', ...)` of all
of it cut into words, behind a GIN index; it lives apart from the interaction's row so that
the many events that only touch the row do not rewrite the index entries of its words.

`q` matches the interaction's id (a full UUID), its short reference (`ABC234DEF5` or
`[#ABC234DEF5]`) or the contact's exact address, or else every whitespace-separated term of
`q` must be found in those texts, case-insensitively:
- on SQLite a term is found anywhere (`LIKE`, with `%`, `_` and `\\` taken literally);
- on PostgreSQL a term made only of letters and digits must start a word (prefix search in
  the index: `invo` finds "invoice", `voice` does not); a term with other characters must
  appear as written, and the words inside it narrow the search through the index first.
"""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

from domain.errors import InvalidInput

MESSAGE_TEXT_CAP = 20_000
MAX_TERMS = 20
HEAD_COLUMNS = ("subject_key", "customer", "customer_name_key")
WORD = re.compile(r"[^\W_]+")  # letters and digits: the words PostgreSQL indexes
SHORT_REF = re.compile(r"\[?#?([A-Z2-7]{10})\]?", re.IGNORECASE)


class InvalidSearch(InvalidInput):
    """A filter or condition the search cannot run."""

    code = "invalid-search"


def fold(text: str) -> str:
    """Case-folded with whitespace collapsed: how every searchable text is stored and compared."""
    return " ".join(text.casefold().split())


def like_pattern(text: str, *, prefix: bool = False) -> str:
    """A pattern for `LIKE ... ESCAPE '\\'` where the user's `%`, `_` and `\\` match literally."""
    escaped = fold(text).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"{escaped}%" if prefix else f"%{escaped}%"


def with_message(message_text: str, text: str) -> str:
    """The interaction's text with one more message; the oldest text goes beyond the cap."""
    joined = f"{message_text}\n{fold(text)}" if message_text else fold(text)
    if len(joined) <= MESSAGE_TEXT_CAP:
        return joined
    kept = joined[-MESSAGE_TEXT_CAP:]
    return kept.partition(" ")[2] if " " in kept else kept  # no word cut in half at the start


def index_words(*texts: str) -> str:
    """The words of the texts, separated by spaces: what `to_tsvector('simple', ?)` receives,
    so that addresses and `snake_case` split into words exactly as query terms do."""
    return " ".join(WORD.findall(" ".join(texts)))


def free_text(
    q: str, company_id: UUID, dialect: str, *, row: str | None = None
) -> tuple[str, list[Any]] | None:
    """The condition `q` puts on a row, or None for a blank `q`.

    With `row` (the alias of the interactions row), PostgreSQL checks that row's own text
    vector instead of collecting every match of the company from the index first: cheaper
    when the words are common and only the newest few rows are wanted."""
    terms = list(dict.fromkeys(fold(q).split()))
    if not terms:
        return None
    if len(terms) > MAX_TERMS:
        raise InvalidSearch(f"free text takes at most {MAX_TERMS} words")
    exact, params = _exact(q.strip())
    if dialect == "postgres":
        text, text_params = _postgres(terms, company_id, row)
    else:
        text, text_params = _sqlite(terms)
    return f"({' OR '.join([*exact, text])})", [*params, *text_params]


def _exact(q: str) -> tuple[list[str], list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    try:
        params.append(str(UUID(q)))
        clauses.append("interaction_id = ?")
    except ValueError:
        pass
    if ref := SHORT_REF.fullmatch(q):
        clauses.append("short_ref = ?")
        params.append(ref.group(1).upper())
    if "@" in q and not any(c.isspace() for c in q):
        clauses.append("customer = ?")
        params.append(q.casefold())
    return clauses, params


def _anywhere(term: str) -> tuple[str, list[Any]]:
    """The term inside the subject, the contact's address or name, or a message."""
    like = "LIKE ? ESCAPE '\\'"
    found = " OR ".join(f"{column} {like}" for column in HEAD_COLUMNS)
    in_text = f"interaction_id IN (SELECT interaction_id FROM {{texts}} WHERE message_text {like})"
    return f"({found} OR {in_text})", [like_pattern(term)] * (len(HEAD_COLUMNS) + 1)


def _sqlite(terms: list[str]) -> tuple[str, list[Any]]:
    found = [_anywhere(term) for term in terms]
    return f"({' AND '.join(c for c, _ in found)})", [p for _, ps in found for p in ps]


def _postgres(terms: list[str], company_id: UUID, row: str | None) -> tuple[str, list[Any]]:
    prefixes: list[str] = []
    literal: list[tuple[str, list[Any]]] = []
    for term in terms:
        if WORD.fullmatch(term):
            prefixes.append(term)
            continue
        literal.append(_anywhere(term))
        # a word inside the term after a separator starts a word of the text wherever the
        # term appears; the first one may sit inside a longer word, so it narrows nothing
        prefixes += [m.group() for m in WORD.finditer(term) if m.start() > 0]
    clauses = [c for c, _ in literal]
    params = [p for _, ps in literal for p in ps]
    if prefixes:
        query = " & ".join(f"'{word}':*" for word in dict.fromkeys(prefixes))
        if row is None:
            clauses.insert(
                0,
                "interaction_id IN (SELECT interaction_id FROM {texts} WHERE company_id = ? "
                "AND search_vector @@ to_tsquery('simple', ?))",
            )
            params[:0] = [company_id, query]
        else:
            clauses.insert(
                0,
                "(SELECT t.search_vector FROM {texts} t WHERE t.interaction_id = "
                f"{row}.interaction_id) @@ to_tsquery('simple', ?)",
            )
            params[:0] = [query]
    return f"({' AND '.join(clauses)})", params
