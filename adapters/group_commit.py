"""Group commit: the concurrent saves of one process share one PostgreSQL transaction.

The library's recorder takes an EXCLUSIVE lock on the events table in every transaction, so
that notification ids are committed in the order they are issued and readers never pass a gap
that fills later. That lock serialises writers: each save pays a full round of lock, insert and
commit alone. Here a save queues its events and waits for its turn; one writer at a time writes
every queued save in one transaction (one lock, one multi-row insert, one NOTIFY, one commit, sent
in one round trip), hands each its notification ids and the turn to the next queued caller. The
guarantees are the library's own:

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
from contextlib import suppress
from typing import Any

import psycopg
from eventsourcing.persistence import IntegrityError, InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresAggregateRecorder, PostgresApplicationRecorder
from eventsourcing.utils import retry

TOPIC = "adapters.group_commit:GroupCommitRecorder"
MAX_GROUP_EVENTS = 5_000  # one statement's worth; larger groups wait for the next round
GATHER_SECONDS = 0.001  # at most, for callers of the last rounds who have not queued yet


class _Save:
    """One caller's events, waiting for a group transaction to record them."""

    __slots__ = ("caller", "error", "events", "ids", "recorded", "turn")

    def __init__(self, events: Sequence[StoredEvent]) -> None:
        self.events = events
        self.caller = threading.get_ident()
        self.ids: list[int] = []
        self.error: BaseException | None = None
        self.recorded = False
        self.turn = threading.Event()  # set once recorded, or when its caller is to write


class GroupCommitRecorder(PostgresApplicationRecorder):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._queued: list[_Save] = []
        self._arrived = threading.Condition()
        self._writing = False
        self._recent_callers: list[set[int]] = [set(), set()]  # of the last two rounds

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        if any(v is not None for v in kwargs.values()) or self.datastore.enable_db_functions:
            ids: Sequence[int] | None = super().insert_events(stored_events, **kwargs)
            return ids
        if not stored_events:
            return []
        save = _Save(stored_events)
        with self._arrived:
            self._queued.append(save)
            waits, self._writing = self._writing, True
            self._arrived.notify()
        if waits:
            save.turn.wait()
        if not save.recorded:  # its turn: it writes the saves queued from its own on
            self._write_next_group()
        if save.error is not None:
            raise save.error
        return save.ids

    def _write_next_group(self) -> None:
        """Writes the head of the queue, wakes its callers, hands the turn to the next one.

        Each caller is woken once, when its events are recorded or when it is to write. The
        writer first waits a moment for the other callers of the last two rounds, if any: under
        load they are about to save again, and a group twice as large costs about the same."""
        with self._arrived:
            expected = len(self._recent_callers[0] | self._recent_callers[1])
            self._arrived.wait_for(lambda: len(self._queued) >= expected, GATHER_SECONDS)
            group = self._take_group()
            self._recent_callers = [self._recent_callers[1], {save.caller for save in group}]
        try:
            self._write(group)
        finally:
            with self._arrived:
                after = self._queued[0] if self._queued else None
                self._writing = after is not None
            for save in group:
                save.turn.set()
            if after is not None:
                after.turn.set()

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
        """One transaction in one round trip: begin, lock, notify, insert every event, commit.

        The library syncs the pipeline after the insert and commits in a second round trip;
        sending the commit with the rest keeps the table lock only while the server works.
        A key conflict skips the commit: the transaction is rolled back and the conflict
        raised. Returns the issued ids in order."""
        with self.datastore.get_connection() as conn:
            statements, inserting = conn.cursor(), conn.cursor()
            try:
                with conn.pipeline():
                    statements.execute(b"BEGIN")
                    self._lock_table(statements)
                    self._notify_channel(statements)
                    PostgresAggregateRecorder._insert_stored_events(self, inserting, events)
                    statements.execute(b"COMMIT")
            except BaseException:
                with suppress(psycopg.Error):
                    conn.rollback()
                raise
            ids = list(self._fetch_ids_after_insert_events(inserting, events) or [])
        if len(ids) != len(events):
            raise OperationalError(f"recorded {len(events)} events but got {len(ids)} ids")
        return ids
