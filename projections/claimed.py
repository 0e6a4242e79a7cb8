"""Projections that several processes may run at once (dispatch workers), each event once.

The library's tracking row only refuses a position that does not move forward, so two runners
reading overlapping pages (10-20 and 10-25) would both commit and apply 11-20 twice. Here the
transaction first locks the tracking row and skips what is already tracked: a page applies only
past the position the row holds when the lock is granted.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any, Self

from eventsourcing.persistence import IntegrityError, Tracking
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.sqlite import SQLiteDatastore

from projections.base import Projection, ProjectionError, Tx, is_transient
from projections.views import PostgresView


class ClaimedProjection(Projection):
    """A projection whose pages are claimed under a lock on its tracking row."""

    @classmethod
    def open(
        cls,
        datastore: SQLiteDatastore | PostgresDatastore,
        *,
        view_name: str | None = None,
        create_tables: bool = True,
    ) -> Self:
        projection = super().open(datastore, view_name=view_name, create_tables=create_tables)
        projection.prime()
        return projection

    def prime(self) -> None:
        """Creates the tracking row, so that even the first page has a row to lock."""
        if self.view.max_tracking_id(self.application_name) is None:
            with contextlib.suppress(IntegrityError):  # another process primed it
                self.view.insert_tracking(Tracking(self.application_name, 0))

    def _locked_position(self, tx: Tx) -> int:
        lock = " FOR UPDATE" if isinstance(self.view, PostgresView) else ""
        row = tx.execute(
            f"SELECT notification_id FROM {{tracking}} WHERE application_name = ?{lock}",
            self.application_name,
        ).one()
        return int(row["notification_id"]) if row else 0

    def process_batch(
        self, events_with_ids: Sequence[tuple[Any, int]], *, position: int | None = None
    ) -> int | None:
        if position is None:
            if not events_with_ids:
                return None
            position = events_with_ids[-1][1]
        with self.view.transaction() as tx:
            tracked = self._locked_position(tx)
            if position <= tracked:
                raise IntegrityError(f"{self.name} is already at {tracked}")
            fresh = [(event, number) for event, number in events_with_ids if number > tracked]
            self.view.track(tx, Tracking(self.application_name, position))
            for domain_event, notification_id in fresh:
                try:
                    self.apply(tx, domain_event, notification_id)
                except Exception as error:
                    if is_transient(error):
                        raise
                    raise ProjectionError(self.name, notification_id) from error
            self.before_commit(tx, fresh)
        self.after_commit(fresh)
        return position

    def before_commit(self, tx: Tx, applied: Sequence[tuple[Any, int]]) -> None:
        """Called inside the page's transaction, after its events were applied."""

    def after_commit(self, applied: Sequence[tuple[Any, int]]) -> None:
        """Called once the page is committed: the events no other runner will apply."""
