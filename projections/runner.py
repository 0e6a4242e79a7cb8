"""Keeping a projection caught up with the ContactCenter log, on SQLite and PostgreSQL alike.

The runner polls `select_notifications` from the view's tracking position, one transaction per
page. `wake()` (called after each in-process save) and, on PostgreSQL, LISTEN on the log's NOTIFY
channel cut the lag to a few milliseconds; the poll interval is only the fallback.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from time import monotonic
from types import TracebackType
from typing import Any

import psycopg
from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError, Notification
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg import sql

from projections.base import Projection, View, is_transient

logger = logging.getLogger(__name__)

WAIT_POLL = 0.02
RETRY_AFTER = 1.0

Progress = Callable[[int, int], None]


def process_page(
    app: Application[Any], projection: Projection, page: Sequence[Notification]
) -> int:
    """Applies one page in one transaction; only relevant events are deserialised."""
    topics = set(projection.topics)
    relevant = [(app.mapper.to_domain_event(n), n.id) for n in page if n.topic in topics]
    projection.process_batch(relevant, position=page[-1].id)
    return page[-1].id


class CatchUpRunner:
    """Runs one projection in a daemon thread; stops at the first failing event."""

    def __init__(
        self,
        app: Application[Any],
        projection: Projection,
        view: View | None = None,
        *,
        page_size: int = 500,
        idle_poll: float = 0.05,
        listen: bool = True,
    ) -> None:
        if view is not None and view is not projection.view:
            raise ValueError(f"projection {projection.name} writes to another view")
        self.app, self.projection, self.view = app, projection, projection.view
        self.page_size, self.idle_poll = page_size, idle_poll
        self.position = self._tracked()
        self.error: BaseException | None = None
        self._wakeup = threading.Event()
        self._stopping = threading.Event()
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        self._listener = Listener(app, self.wake) if listen and Listener.applies(app) else None

    def _tracked(self) -> int:
        return self.view.max_tracking_id(self.app.name) or 0

    @property
    def is_running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.is_running:
            return
        self.error = None
        self.position = self._tracked()
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._run, name=f"projection-{self.name}", daemon=True
        )
        self._thread.start()
        if self._listener is not None:
            self._listener.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        self._wakeup.set()
        if self._listener is not None:
            self._listener.stop()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> CatchUpRunner:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def wake(self) -> None:
        self._wakeup.set()

    def run_once(self) -> int:
        """Processes one page; returns how many notifications it examined."""
        page = self.app.recorder.select_notifications(
            self.position, self.page_size, inclusive_of_start=False
        )
        if not page:
            return 0
        try:
            position = process_page(self.app, self.projection, page)
        except IntegrityError:
            position = self._tracked()  # another worker got there first
            if position <= self.position:
                raise
        self._advance(position)
        return len(page)

    def _advance(self, position: int) -> None:
        with self._changed:
            self.position = position
            self._changed.notify_all()

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wakeup.clear()
            try:
                examined = self.run_once()
            except Exception as error:  # the top-level loop: log, keep the position, stop
                if is_transient(error):
                    logger.warning("projection %s: database unavailable (%s)", self.name, error)
                    self._stopping.wait(RETRY_AFTER)
                    continue
                logger.exception(
                    "projection %s stopped at position %s: %s", self.name, self.position, error
                )
                with self._changed:
                    self.error = error
                    self._changed.notify_all()
                return
            if examined < self.page_size:
                self._wakeup.wait(self.idle_poll)

    @property
    def name(self) -> str:
        return self.projection.name

    def current_position(self) -> int:
        """The view's position: this runner's, or the tracking row's if another process runs."""
        if not self.is_running:
            self._advance(max(self.position, self._tracked()))
        return self.position

    def wait(self, position: int, timeout: float = 5.0) -> bool:
        """True once every notification up to `position` is in the view."""
        deadline = monotonic() + timeout
        with self._changed:
            while self.position < position:
                remaining = deadline - monotonic()
                if self.error is not None or remaining <= 0:
                    return False
                self._changed.wait(min(remaining, WAIT_POLL))
                if not self.is_running:
                    self.position = max(self.position, self._tracked())
        return True


def rebuild(
    app: Application[Any],
    projection: Projection,
    view: View | None = None,
    progress: Progress | None = None,
    *,
    page_size: int = 500,
) -> int:
    """Empties the view and replays the whole log into it, one transaction per page.

    Stop the view's runner first. Returns the position reached.
    """
    view = view or projection.view
    view.truncate()
    total = app.recorder.max_notification_id() or 0
    position = 0
    while position < total:
        page = app.recorder.select_notifications(
            position, page_size, stop=total, inclusive_of_start=False
        )
        if not page:
            break
        position = process_page(app, projection, page)
        if progress is not None:
            progress(position, total)
    return position


class Listener:
    """Wakes a runner when any process commits to the log (PostgreSQL LISTEN/NOTIFY)."""

    def __init__(self, app: Application[Any], wake: Callable[[], None]) -> None:
        recorder = app.recorder
        assert isinstance(recorder, PostgresApplicationRecorder)
        self.channel = recorder.channel_name
        kwargs = recorder.datastore.pool.kwargs or {}
        if callable(kwargs):
            kwargs = kwargs()
        self._connect_kwargs = {k: v for k, v in kwargs.items() if k != "row_factory"}
        self._connect_kwargs.setdefault("connect_timeout", 10)
        self._wake = wake
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @staticmethod
    def applies(app: Application[Any]) -> bool:
        return isinstance(app.recorder, PostgresApplicationRecorder)

    def start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stopping.clear()
            self._thread = threading.Thread(target=self._run, name="listen", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(5.0)
            self._thread = None

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._listen()
            except psycopg.Error as error:
                logger.warning(
                    "LISTEN %s failed (%s); polling until it reconnects", self.channel, error
                )
                self._stopping.wait(RETRY_AFTER)

    def _listen(self) -> None:
        with psycopg.connect(**self._connect_kwargs, autocommit=True) as conn:
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
            self._wake()  # anything committed before LISTEN took effect
            while not self._stopping.is_set():
                for _ in conn.notifies(timeout=0.25, stop_after=1):
                    self._wake()
