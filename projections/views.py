"""SQL read models on SQLite and PostgreSQL: one SQL text per statement, tracked exactly once.

Statements are written once, with `?` placeholders and `{table}` names. On SQLite a table is
`<view>_<table>` in the view's own file; on PostgreSQL it is `"<schema>"."<view>_<table>"`, and
the tracking table is `<view>_tracking`. Ids are stored as text, times as fixed-width RFC 3339
UTC text and flags as 0/1, so both backends return the same values.
"""

from __future__ import annotations

import json
from abc import abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Tracking, TrackingRecorder
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from eventsourcing.sqlite import SQLiteCursor, SQLiteDatastore, SQLiteTrackingRecorder
from psycopg import Cursor
from psycopg.rows import DictRow

from projections.page_rows import Counters, RowSet, RowShape, column_names, column_types

MIGRATION_ROW = "__migration__"  # the library's own row in every tracking table
MAX_CACHED_STATEMENTS = 512

Row = dict[str, Any]


def iso(at: datetime) -> str:
    """RFC 3339 UTC with microseconds: fixed width, so text order is time order."""
    if at.tzinfo is not UTC:
        at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return at.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def to_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return iso(value)
    raise TypeError(f"cannot store {type(value).__name__} in a read model")


def _adapt(value: Any) -> Any:
    kind = type(value)
    if kind is str or kind is int or value is None:
        return value
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, bool):
        return int(value)
    return value


@dataclass(frozen=True)
class Table:
    """One table of a view: `columns` is SQL shared by both backends (TEXT, BIGINT, INTEGER).

    `postgres_columns` and `postgres_indexes` exist on PostgreSQL only (e.g. a `tsvector`
    column and an index written as what follows `ON <table>`: `USING GIN (column)`);
    `computed` names those of its columns a row set writes as an expression of one parameter
    (e.g. `("search_vector", "to_tsvector('simple', ?)")`).
    """

    name: str
    columns: str
    key: str
    indexes: tuple[str, ...] = ()
    postgres_columns: str = ""
    postgres_indexes: tuple[str, ...] = ()
    computed: tuple[tuple[str, str], ...] = ()

    @property
    def shape(self) -> RowShape:
        return RowShape(self.name, column_types(self.columns), dict(self.computed))


class Tx:
    """A cursor inside one view transaction, speaking the shared SQL dialect.

    `dialect` ("sqlite" or "postgres") is for the few statements that differ by backend.
    `rows` and `counters` hold writes in memory until `flush`, which the view's transaction
    calls before it commits (see `projections.page_rows`)."""

    def __init__(
        self,
        cursor: Any,
        sql: Callable[[str], str],
        dialect: str = "sqlite",
        tables: Sequence[Table] = (),
    ) -> None:
        self.cursor = cursor
        self._sql = sql
        self.dialect = dialect
        self._tables = {table.name: table for table in tables}
        self._pending: dict[tuple[str, ...], RowSet | Counters] = {}

    def rows(self, table: str, *key: str) -> RowSet:
        """The table's rows by `key` (default: its primary key) for this transaction."""
        found = self._pending.get((table, *key))
        if found is None:
            names = key or column_names(self._tables[table].key)
            found = RowSet(self._tables[table].shape, names, self.execute, _adapt, self.dialect)
            self._pending[(table, *key)] = found
        if not isinstance(found, RowSet):
            raise TypeError(f"{table} is written as counters in this transaction")
        return found

    def counters(self, table: str, value: str) -> Counters:
        """Deltas added to `value` of the table's rows by primary key, never read back."""
        found = self._pending.get((table, value))
        if found is None:
            key = column_names(self._tables[table].key)
            found = Counters(
                self._tables[table].shape, key, value, self.execute, _adapt, self.dialect
            )
            self._pending[(table, value)] = found
        if not isinstance(found, Counters):
            raise TypeError(f"{table} is written as rows in this transaction")
        return found

    def flush(self) -> None:
        """Writes what the row sets and counters hold."""
        for pending in self._pending.values():
            pending.flush()

    def execute(self, text: str, *params: Any) -> Tx:
        self.cursor.execute(self._sql(text), tuple(_adapt(p) for p in params))
        return self

    def insert(self, table: str, **values: Any) -> Tx:
        """Inserts one row; column names come from code, never from input."""
        columns, marks = ", ".join(values), ", ".join("?" * len(values))
        return self.execute(
            f"INSERT INTO {{{table}}} ({columns}) VALUES ({marks})", *values.values()
        )

    def one(self) -> Row | None:
        row = self.cursor.fetchone()
        return None if row is None else dict(row)

    def all(self) -> list[Row]:
        return [dict(row) for row in self.cursor.fetchall()]


class View(TrackingRecorder):
    """A read model's tables plus its tracking table, changed together in one transaction."""

    dialect = "sqlite"

    def __init__(self, name: str, tables: Sequence[Table]) -> None:
        self.name, self.tables = name, tuple(tables)
        self._statements: dict[str, str] = {}

    @abstractmethod
    def _table_names(self) -> dict[str, str]: ...

    @abstractmethod
    def _placeholders(self, text: str) -> str: ...

    @abstractmethod
    def _raw_transaction(self, *, commit: bool) -> Any: ...

    @abstractmethod
    def create_table(self) -> None: ...

    @abstractmethod
    def close(self) -> None:
        """Closes the view's connections."""

    @abstractmethod
    def track(self, tx: Tx, tracking: Tracking) -> None:
        """Raises IntegrityError unless the position moves forward; the caller rolls back."""

    def sql(self, text: str) -> str:
        statement = self._statements.get(text)
        if statement is None:
            if len(self._statements) >= MAX_CACHED_STATEMENTS:
                self._statements.clear()
            statement = self._placeholders(text.format_map(self._table_names()))
            self._statements[text] = statement
        return statement

    @contextmanager
    def transaction(self, *, commit: bool = True) -> Iterator[Tx]:
        with self._raw_transaction(commit=commit) as cursor:
            tx = Tx(cursor, self.sql, self.dialect, self.tables)
            yield tx
            if commit:
                tx.flush()

    def select(self, text: str, *params: Any) -> list[Row]:
        with self.transaction(commit=False) as tx:
            return tx.execute(text, *params).all()

    def create_tables(self) -> None:
        self.create_table()

    def _data_definitions(self) -> list[str]:
        statements = []
        postgres = self.dialect == "postgres"
        for table in self.tables:
            columns = table.columns
            if postgres and table.postgres_columns:
                columns = f"{columns}, {table.postgres_columns}"
            statements.append(
                self.sql(
                    f"CREATE TABLE IF NOT EXISTS {{{table.name}}} "
                    f"({columns}, PRIMARY KEY ({table.key}))"
                )
            )
            for number, columns in enumerate(table.indexes):
                statements.append(
                    self.sql(
                        f"CREATE INDEX IF NOT EXISTS {self.name}_{table.name}_{number} "
                        f"ON {{{table.name}}} ({columns})"
                    )
                )
            for number, method in enumerate(table.postgres_indexes if postgres else ()):
                statements.append(
                    self.sql(
                        f"CREATE INDEX IF NOT EXISTS {self.name}_{table.name}_pg{number} "
                        f"ON {{{table.name}}} {method}"
                    )
                )
        return statements

    def truncate(self) -> None:
        """Empties every table and forgets the position, for a rebuild."""
        with self.transaction() as tx:
            for table in self.tables:
                tx.execute(f"DELETE FROM {{{table.name}}}")
            tx.execute("DELETE FROM {tracking} WHERE application_name <> ?", MIGRATION_ROW)

    def dump(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of every table (tracking included), in primary-key order."""
        dumped: dict[str, list[tuple[Any, ...]]] = {}
        with self.transaction(commit=False) as tx:
            for table in self.tables:
                rows = tx.execute(f"SELECT * FROM {{{table.name}}} ORDER BY {table.key}").all()
                dumped[table.name] = [tuple(row.values()) for row in rows]
            rows = tx.execute(
                "SELECT * FROM {tracking} WHERE application_name <> ? ORDER BY application_name",
                MIGRATION_ROW,
            ).all()
            dumped["tracking"] = [tuple(row.values()) for row in rows]
        return dumped


class SQLiteView(SQLiteTrackingRecorder, View):
    def __init__(self, datastore: SQLiteDatastore, name: str, tables: Sequence[Table]) -> None:
        View.__init__(self, name, tables)
        SQLiteTrackingRecorder.__init__(self, datastore)

    def _table_names(self) -> dict[str, str]:
        names = {table.name: f"{self.name}_{table.name}" for table in self.tables}
        return {**names, "tracking": "tracking"}

    def _placeholders(self, text: str) -> str:
        return text

    def _raw_transaction(self, *, commit: bool) -> Any:
        return self.datastore.transaction(commit=commit)

    def close(self) -> None:
        self.datastore.close()

    def track(self, tx: Tx, tracking: Tracking) -> None:
        self._insert_tracking(tx.cursor, tracking)

    def _create_table(self, c: SQLiteCursor) -> None:
        super()._create_table(c)
        for statement in self._data_definitions():
            c.execute(statement)


class PostgresView(PostgresTrackingRecorder, View):
    dialect = "postgres"

    def __init__(self, datastore: PostgresDatastore, name: str, tables: Sequence[Table]) -> None:
        View.__init__(self, name, tables)
        PostgresTrackingRecorder.__init__(self, datastore, tracking_table_name=f"{name}_tracking")

    def _table_names(self) -> dict[str, str]:
        names = {table.name: f"{self.name}_{table.name}" for table in self.tables}
        names["tracking"] = self.tracking_table_name
        schema = _quoted(self.datastore.schema)
        return {key: f"{schema}.{_quoted(name)}" for key, name in names.items()}

    def _placeholders(self, text: str) -> str:
        return text.replace("%", "%%").replace("?", "%s")

    def _raw_transaction(self, *, commit: bool) -> Any:
        return self.datastore.transaction(commit=commit)

    def close(self) -> None:
        self.datastore.close()

    def track(self, tx: Tx, tracking: Tracking) -> None:
        self._insert_tracking(tx.cursor, tracking)

    def _create_table(self, curs: Cursor[DictRow]) -> None:
        super()._create_table(curs)
        for statement in self._data_definitions():
            curs.execute(statement)


def _quoted(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def make_view(
    datastore: SQLiteDatastore | PostgresDatastore, name: str, tables: Sequence[Table]
) -> View:
    if isinstance(datastore, PostgresDatastore):
        return PostgresView(datastore, name, tables)
    return SQLiteView(datastore, name, tables)
