"""Group commit: the concurrent saves of one process share one PostgreSQL transaction.

The library's recorder takes an EXCLUSIVE lock on the events table in every transaction, so
that notification ids are committed in the order they are issued and readers never pass a gap
that fills later. That lock serialises writers: each save pays a full round of lock, insert and
commit alone. Here a save queues its events and waits for the writer lock; whoever holds the lock
writes every queued save in one transaction (one lock, one multi-row insert, one NOTIFY, one
commit) and hands each its notification ids. The guarantees are the library's own:

- optimistic concurrency: the unique (originator_id, originator_version) key still refuses a
  stale save; when a group hits a conflict it is rolled back and each save of the group is
  written alone, so only the stale one gets the IntegrityError;
- gap-free ordering: still one table lock per transaction, ids issued and committed together;
- exactly-once tracking: saves that carry recorder arguments (`tracking=...`) take the
  library's own path, untouched.

Select it with `APPLICATION_RECORDER_TOPIC=adapters.group_commit:GroupCommitRecorder`.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import IntegrityError, InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import retry

TOPIC = "adapters.group_commit:GroupCommitRecorder"
MAX_GROUP_EVENTS = 5_000  # one statement's worth; larger groups wait for the next round


class _Save:
    """One caller's events, waiting for a group transaction to record them."""

    __slots__ = ("error", "events", "ids", "recorded")

    def __init__(self, events: Sequence[StoredEvent]) -> None:
        self.events = events
        self.ids: list[int] = []
        self.error: BaseException | None = None
        self.recorded = False


class GroupCommitRecorder(PostgresApplicationRecorder):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._queued: list[_Save] = []
        self._changed = threading.Condition()
        self._writing = False

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        if any(v is not None for v in kwargs.values()) or self.datastore.enable_db_functions:
            ids: Sequence[int] | None = super().insert_events(stored_events, **kwargs)
            return ids
        if not stored_events:
            return []
        save = _Save(stored_events)
        with self._changed:
            self._queued.append(save)
            while not save.recorded:
                if self._writing:
                    self._changed.wait()
                    continue
                self._writing = True
                group = self._take_group()
                self._changed.release()
                try:
                    self._write(group)
                finally:
                    self._changed.acquire()
                    self._writing = False
                    self._changed.notify_all()
        if save.error is not None:
            raise save.error
        return save.ids

    def _take_group(self) -> list[_Save]:
        """The queued saves in arrival order, up to one statement's worth of events."""
        group: list[_Save] = []
        size = 0
        while self._queued and (
            not group or size + len(self._queued[0].events) <= MAX_GROUP_EVENTS
        ):
            save = self._queued.pop(0)
            group.append(save)
            size += len(save.events)
        return group

    def _write(self, group: list[_Save]) -> None:
        try:
            try:
                ids = self._insert_group([event for save in group for event in save.events])
            except IntegrityError:
                if len(group) == 1:
                    raise
                for save in group:  # find the stale save: each alone, as the library would
                    self._write([save])
                return
        except BaseException as error:
            for save in group:
                save.error, save.recorded = error, True
            return
        offset = 0
        for save in group:
            save.ids = ids[offset : offset + len(save.events)]
            save.recorded = True
            offset += len(save.events)

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def _insert_group(self, events: list[StoredEvent]) -> list[int]:
        """One transaction: lock, insert every event, notify, commit; the issued ids in order."""
        failure: Exception | None = None
        ids: list[int] = []
        with self.datastore.get_connection() as conn:
            with conn.pipeline() as pipeline, conn.transaction(), conn.cursor() as curs:
                try:
                    self._insert_stored_events(curs, events)
                    pipeline.sync()  # a key conflict raises here, not at commit
                    ids = list(self._fetch_ids_after_insert_events(curs, events) or [])
                except Exception as error:  # re-raised outside the pipeline, as the library does
                    failure = error
            if failure is not None:
                raise failure
        if len(ids) != len(events):
            raise OperationalError(f"recorded {len(events)} events but got {len(ids)} ids")
        return ids
