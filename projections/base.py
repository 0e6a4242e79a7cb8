"""The read side's building blocks: a projection folds events into the tables of its view.

See `projections.views` for the SQL shared by SQLite and PostgreSQL.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Self, TypeVar

import psycopg
from eventsourcing.persistence import (
    IntegrityError,
    InterfaceError,
    OperationalError,
    Tracking,
)
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.projection import Projection as LibraryProjection
from eventsourcing.sqlite import SQLiteDatastore
from eventsourcing.utils import get_topic

from projections.views import Row, Table, Tx, View, iso, make_view, to_json

APPLICATION_NAME = "ContactCenter"

__all__ = [
    "Projection",
    "ProjectionError",
    "Row",
    "Table",
    "Tx",
    "View",
    "handles",
    "is_transient",
    "iso",
    "make_view",
    "to_json",
]


class ProjectionError(Exception):
    """A projection failed on one event; the whole page was rolled back."""

    def __init__(self, projection: str, notification_id: int) -> None:
        super().__init__(f"projection {projection} failed at notification {notification_id}")
        self.projection, self.notification_id = projection, notification_id


def is_transient(error: BaseException) -> bool:
    """A lost connection or a lock timeout: retry later, the events are not at fault."""
    if isinstance(error, sqlite3.OperationalError):
        return getattr(error, "sqlite_errorname", None) in ("SQLITE_BUSY", "SQLITE_LOCKED")
    transient = (psycopg.OperationalError, psycopg.InterfaceError, OperationalError, InterfaceError)
    return isinstance(error, transient)


Handler = Callable[[Any, Tx, Any, int], None]
H = TypeVar("H", bound=Callable[..., None])


def handles(*event_classes: type) -> Callable[[H], H]:
    """Marks a projection method as the handler of these exact event classes."""

    def mark(method: H) -> H:
        method.__dict__["handles"] = event_classes
        return method

    return mark


class Projection(LibraryProjection[View]):
    """Turns events into rows of its view; subclasses declare `name`, `tables` and handlers."""

    application_name: ClassVar[str] = APPLICATION_NAME
    tables: ClassVar[tuple[Table, ...]] = ()
    handlers: ClassVar[Mapping[type, Handler]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        found: dict[type, Handler] = {}
        for base in reversed(cls.__mro__):
            for attribute in vars(base).values():
                for event_class in getattr(attribute, "handles", ()):
                    found[event_class] = attribute
        cls.handlers = found
        cls.topics = tuple(sorted(get_topic(event_class) for event_class in found))

    @classmethod
    def open(
        cls,
        datastore: SQLiteDatastore | PostgresDatastore,
        *,
        view_name: str | None = None,
        create_tables: bool = True,
    ) -> Self:
        """The projection over its view in this datastore, with the tables created if asked.

        A `view_name` other than the projection's name builds a second copy of the view.
        """
        view = make_view(datastore, view_name or cls.name, cls.tables)
        if create_tables:
            view.create_tables()
        return cls(view)

    def apply(self, tx: Tx, domain_event: Any, notification_id: int) -> None:
        handler = self.handlers.get(type(domain_event))
        if handler is not None:
            handler(self, tx, domain_event, notification_id)

    def process_batch(
        self, events_with_ids: Sequence[tuple[Any, int]], *, position: int | None = None
    ) -> int | None:
        """Applies a page in one transaction and tracks `position` (default: the last id).

        Pass the id of the last notification examined as `position`, even when none of the
        page's events concerned this projection, so that waits for it succeed.

        The transaction first claims the view's tracking row (creating it if missing, locking
        it on PostgreSQL) and applies only the events past the position it holds: the
        library's tracking insert only refuses a position that does not move forward, so two
        runners reading overlapping pages (10-20 and 10-25) would otherwise both apply 11-20.
        Raises IntegrityError when the row is already at `position` or beyond.
        """
        if position is None:
            if not events_with_ids:
                return None
            position = events_with_ids[-1][1]
        with self.view.transaction() as tx:
            tracked = self._claim(tx)
            if position <= tracked:
                raise IntegrityError(f"{self.name} is already at {tracked}")
            fresh = [(event, number) for event, number in events_with_ids if number > tracked]
            self.view.track(tx, Tracking(self.application_name, position))
            self.prefetch(tx, [event for event, _ in fresh])
            for domain_event, notification_id in fresh:
                try:
                    self.apply(tx, domain_event, notification_id)
                except Exception as error:
                    if is_transient(error):
                        raise
                    raise ProjectionError(self.name, notification_id) from error
            try:
                tx.flush()  # the page's rows: a failure here names the page's last position
            except Exception as error:
                if is_transient(error):
                    raise
                raise ProjectionError(self.name, position) from error
        self.after_commit(fresh)
        return position

    def _claim(self, tx: Tx) -> int:
        row = tx.execute(  # one round trip: the row created if missing, locked, and read
            "INSERT INTO {tracking} (application_name, notification_id) VALUES (?, 0) "
            "ON CONFLICT (application_name) DO UPDATE SET notification_id = "
            "{tracking}.notification_id RETURNING notification_id",
            self.application_name,
        ).one()
        return int(row["notification_id"]) if row else 0

    def prefetch(self, tx: Tx, domain_events: Sequence[Any]) -> None:
        """Loads the rows the page will need in a few statements (see `Tx.rows`)."""

    def after_commit(self, applied: Sequence[tuple[Any, int]]) -> None:
        """Called once the page is committed: the events no other runner will apply."""

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        """The library's one-event interface, so a `ProjectionRunner` can drive it too."""
        self.process_batch([(domain_event, tracking.notification_id)])
