"""Rows one page of events reads and writes, held in memory and written back at its end.

One interaction's events usually arrive close together, and a handler issuing a statement per
event pays a round trip per event. Handlers change rows here instead; when the page's
transaction ends, each changed row is written once, in a few statements: deletes first, then
inserts (PostgreSQL: one statement per table whatever the number of rows, the rows passed as
one JSON parameter, which costs less to build and parse than arrays; SQLite: multi-row
`VALUES`). A row set is keyed by a logical key that
identifies at most one row, which need not be the table's primary key (the agent inbox keys
its rows by interaction).
Counters add deltas to rows with `INSERT ... ON CONFLICT DO UPDATE`, never reading them.

Within one page a table is either written through its row set or through direct statements,
never both: a direct statement would not see the rows held here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Row = dict[str, Any]
Key = tuple[Any, ...]
Execute = Callable[..., Any]
Adapt = Callable[[Any], Any]
Statement = tuple[str, list[Any]]

LARGEST_STATEMENT = 128  # SQLite rows per statement: chunks of 128, 64, ... 1


def chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    """Pieces whose sizes are powers of two up to LARGEST_STATEMENT, in order."""
    start = 0
    while start < len(items):
        size = min(LARGEST_STATEMENT, 1 << ((len(items) - start).bit_length() - 1))
        yield items[start : start + size]
        start += size


def column_types(columns: str) -> dict[str, str]:
    """Name to SQL type in a column list such as `a TEXT NOT NULL, b BIGINT`."""
    pairs = (part.split() for part in columns.split(",") if part.strip())
    return {words[0]: words[1].lower() for words in pairs}


def column_names(columns: str) -> tuple[str, ...]:
    """The names in a column list, typed (`a TEXT, b BIGINT`) or not (`a, b`)."""
    return tuple(part.split()[0] for part in columns.split(",") if part.strip())


class DuplicateRow(ValueError):
    """A row inserted for a key the table holds, as a plain INSERT would refuse it."""


@dataclass(frozen=True)
class RowShape:
    """What a row set needs to know of its table: its name, its columns' SQL types, and its
    computed columns (written as an SQL expression of one parameter, on PostgreSQL only)."""

    table: str
    types: Mapping[str, str]
    computed: Mapping[str, str]

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(self.types)


class Batched:
    """Statements over many rows at once, as each backend does them best."""

    def __init__(self, dialect: str) -> None:
        self.postgres = dialect == "postgres"

    def where(self, shape: RowShape, key: Sequence[str], keys: Sequence[Key]) -> Statement:
        """A condition matching the rows of these keys."""
        if self.postgres:
            records = [dict(zip(key, k, strict=True)) for k in keys]
            source = self._records(shape, key)
            return f"({', '.join(key)}) IN (SELECT {', '.join(key)} FROM {source})", [
                json.dumps(records)
            ]
        params = [value for k in keys for value in k]
        if len(key) == 1:
            return f"{key[0]} IN ({', '.join('?' * len(keys))})", params
        row = f"({', '.join('?' * len(key))})"
        return f"({', '.join(key)}) IN (VALUES {', '.join([row] * len(keys))})", params

    def pieces(self, items: Sequence[Any]) -> Iterator[Sequence[Any]]:
        """PostgreSQL takes any number of rows in one statement; SQLite in chunks."""
        if self.postgres:
            if items:
                yield items
        else:
            yield from chunks(items)

    def insert(self, shape: RowShape, rows: Sequence[Row], conflict: str = "") -> Statement:
        computed = shape.computed if self.postgres else {}
        names = (*shape.columns, *computed)
        if self.postgres:
            selected = [
                *shape.columns,
                *(expression.replace("?", name) for name, expression in computed.items()),
            ]
            types = {**shape.types, **dict.fromkeys(computed, "text")}
            source = f"SELECT {', '.join(selected)} FROM {self._records(shape, names, types)}"
            text = f"INSERT INTO {{{shape.table}}} AS h ({', '.join(names)}) {source}{conflict}"
            return text, [json.dumps([{name: row[name] for name in names} for row in rows])]
        marks = "(" + ", ".join("?" * len(names)) + ")"
        params = [row[name] for row in rows for name in names]
        values = f"VALUES {', '.join([marks] * len(rows))}"
        return f"INSERT INTO {{{shape.table}}} AS h ({', '.join(names)}) {values}{conflict}", params

    @staticmethod
    def _records(
        shape: RowShape, names: Sequence[str], types: Mapping[str, str] | None = None
    ) -> str:
        types = types or shape.types
        columns = ", ".join(f"{name} {types[name]}" for name in names)
        return f"json_to_recordset(?::json) AS u({columns})"


class RowSet:
    """A table's rows by logical key, for the length of one transaction."""

    def __init__(
        self, shape: RowShape, key: Sequence[str], execute: Execute, adapt: Adapt, dialect: str
    ) -> None:
        self.shape, self.key = shape, tuple(key)
        self._execute, self._adapt = execute, adapt
        self._batched = Batched(dialect)
        self._rows: dict[Key, Row | None] = {}  # known rows; None: no such row
        self._stored: set[Key] = set()  # keys that may have a row in the table
        self._changed: dict[Key, None] = {}  # in order of first change

    def _key_of(self, values: Iterable[Any]) -> Key:
        return tuple(map(self._adapt, values))

    def get(self, *key: Any) -> Row | None:
        """The row (a dict the caller may read, not change), loading it if not known yet."""
        k = self._key_of(key)
        if k not in self._rows:
            self.load([k])
        return self._rows[k]

    def load(self, keys: Iterable[Key | Any]) -> None:
        """Reads the rows of these keys not known yet, in as few statements as it takes."""
        wanted = []
        for key in keys:
            k = self._key_of(key if isinstance(key, tuple) else (key,))
            if k not in self._rows:
                self._rows[k] = None
                wanted.append(k)
        columns = ", ".join(self.shape.columns)
        for piece in self._batched.pieces(wanted):
            where, params = self._batched.where(self.shape, self.key, piece)
            for found in self._execute(
                f"SELECT {columns} FROM {{{self.shape.table}}} WHERE {where}", *params
            ).all():
                k = tuple(found[name] for name in self.key)
                self._rows[k] = found
                self._stored.add(k)

    def insert(self, row: Row) -> None:
        """A row for a key known to be new: writing it fails if the table holds the key."""
        self._set(row, stored=False)

    def put(self, row: Row) -> None:
        """The row of its key from now on, replacing any row the table holds."""
        self._set(row, stored=True)

    def update(self, *key: Any, **changes: Any) -> Row | None:
        """Changes some columns of the key's row; nothing when there is no such row."""
        row = self.get(*key)
        if row is None:
            return None
        k = self._key_of(key)
        changed = {**row, **{name: self._adapt(value) for name, value in changes.items()}}
        self._rows[k] = changed
        self._changed[k] = None
        return changed

    def delete(self, *key: Any) -> None:
        k = self._key_of(key)
        if k not in self._rows:
            self._stored.add(k)  # not loaded: the table may hold it
        self._rows[k] = None
        self._changed[k] = None

    def _set(self, row: Row, *, stored: bool) -> None:
        adapted = {name: self._adapt(value) for name, value in row.items()}
        k = tuple(adapted[name] for name in self.key)
        if not stored and self._rows.get(k) is not None:
            raise DuplicateRow(f"{self.shape.table} already holds {k}")
        if stored and k not in self._rows:
            self._stored.add(k)
        self._rows[k] = adapted
        self._changed[k] = None

    def flush(self) -> None:
        """Writes every changed row: the stored ones deleted, then the present ones inserted."""
        changed, self._changed = list(self._changed), {}
        gone = [k for k in changed if k in self._stored]
        for piece in self._batched.pieces(gone):
            where, params = self._batched.where(self.shape, self.key, piece)
            self._execute(f"DELETE FROM {{{self.shape.table}}} WHERE {where}", *params)
        rows = [row for k in changed if (row := self._rows[k]) is not None]
        self._stored.update(k for k in changed if self._rows[k] is not None)
        for piece in self._batched.pieces(rows):
            self._execute(*_flat(self._batched.insert(self.shape, piece)))


class Counters:
    """Deltas added to a table's counter rows, written with one upsert per chunk."""

    def __init__(
        self,
        shape: RowShape,
        key: Sequence[str],
        value: str,
        execute: Execute,
        adapt: Adapt,
        dialect: str,
    ) -> None:
        self.shape = RowShape(shape.table, {n: shape.types[n] for n in (*key, value)}, {})
        self.key, self.value = tuple(key), value
        self._execute, self._adapt = execute, adapt
        self._batched = Batched(dialect)
        self._deltas: dict[Key, int] = {}

    def add(self, key: Sequence[Any], delta: int) -> None:
        """Adds `delta` to the row of `key` (values in primary-key order)."""
        if delta:
            k = tuple(map(self._adapt, key))
            self._deltas[k] = self._deltas.get(k, 0) + delta

    def flush(self) -> None:
        rows = [  # a sum of 0 is written too: the row exists once anything was added
            {**dict(zip(self.key, k, strict=True)), self.value: delta}
            for k, delta in self._deltas.items()
        ]
        self._deltas = {}
        conflict = (
            f" ON CONFLICT ({', '.join(self.key)}) "
            f"DO UPDATE SET {self.value} = h.{self.value} + excluded.{self.value}"
        )
        for piece in self._batched.pieces(rows):
            self._execute(*_flat(self._batched.insert(self.shape, piece, conflict)))


def _flat(statement: Statement) -> tuple[Any, ...]:
    text, params = statement
    return (text, *params)
