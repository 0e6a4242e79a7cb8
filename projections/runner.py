"""Keeping a projection caught up with the ContactCenter log, on SQLite and PostgreSQL alike.

The runner polls `select_notifications` from the view's tracking position, one transaction per
page. `wake()` (called after each in-process save) and, on PostgreSQL, LISTEN on the log's NOTIFY
channel cut the lag to a few milliseconds; the poll interval is only the fallback.

Several processes may run one projection (`inboxflow project` scaled out): with a `Lease` only
the holder projects, the others stand by and take over from the tracked position. Every page is
also claimed on the view's tracking row (`Projection.process_batch`): a runner that lost its
lease without knowing yet, reading 10-25 after the new holder committed 10-20, applies nothing
twice.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from time import monotonic
from types import TracebackType
from typing import Any

from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError, Notification

from adapters.leases import Lease
from projections.base import Projection, View, is_transient
from projections.listener import Listener as Listener  # re-exported for older importers

logger = logging.getLogger(__name__)

WAIT_POLL = 0.02
RETRY_AFTER = 1.0
GATHER = 0.01  # least time between two pages that are not full
STANDBY_RETRY = 1.0  # how often a standby runner tries to take the lease

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
        self.lease: Lease | None = None
        self._active = False  # projecting now: running, and holding the lease if there is one
        self._last_page = 0.0

    def _tracked(self) -> int:
        return self.view.max_tracking_id(self.app.name) or 0

    @property
    def is_running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def is_active(self) -> bool:
        return self.is_running and self._active

    def start(self, lease: Lease | None = None) -> None:
        """Runs in a thread; with a `lease`, only while holding it (standing by meanwhile)."""
        if self.is_running:
            return
        self.lease, self._active = lease, False
        self.error = None
        self.position = self._tracked()
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._run, name=f"projection-{self.name}", daemon=True
        )
        self._thread.start()
        if self._listener is not None:
            self._listener.start()

    def stop(self, timeout: float = 10.0, *, release: bool = True) -> None:
        """Stops after the page in hand; `release` hands the lease to a standby at once."""
        self._stopping.set()
        self._wakeup.set()
        if self._listener is not None:
            self._listener.stop()
        stopped = True
        if self._thread is not None:
            self._thread.join(timeout)
            stopped = not self._thread.is_alive()
            self._thread = None
        if release and stopped and self.lease is not None:
            self.lease.release()

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
        try:
            self._loop()
        finally:
            self._active = False
            if self.error is not None and self.lease is not None:
                self.lease.release()  # perhaps another process gets further

    def _loop(self) -> None:
        caught_up_fully = False  # the last page was full: more is waiting, read on at once
        while not self._stopping.is_set():
            self._wakeup.clear()
            if not self._holds_lease():
                self._stopping.wait(STANDBY_RETRY)
                continue
            if not caught_up_fully:
                # under a stream of small saves, pages at most every GATHER seconds: one
                # transaction then takes what a dozen would have; a lone save is not delayed
                self._stopping.wait(max(0.0, self._last_page + GATHER - monotonic()))
            try:
                examined = self.run_once()
                if examined:
                    self._last_page = monotonic()
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
            caught_up_fully = examined >= self.page_size
            if examined < self.page_size:
                self._wakeup.wait(self.idle_poll)

    def _holds_lease(self) -> bool:
        """Without a lease: always. With one: takes it when free, resuming from the tracked
        position; notices its loss (at most `CHECK_EVERY` seconds late)."""
        lease = self.lease
        if lease is None:
            self._active = True
            return True
        if lease.held:
            return True
        if self._active:
            self._active = False
            logger.warning(
                "projection %s: lease lost, standing by",
                self.name,
                extra={"event": "lease_lost", "lease": lease.name},
            )
        if not lease.acquire():
            return False
        try:
            tracked = self._tracked()
        except Exception as error:  # the database went away meanwhile: try again later
            logger.warning("projection %s: cannot read its position (%s)", self.name, error)
            lease.release()
            return False
        self._advance(tracked)
        self._active = True
        logger.info(
            "projection %s: lease taken at position %s",
            self.name,
            tracked,
            extra={"event": "lease_acquired", "lease": lease.name, "position": tracked},
        )
        return True

    @property
    def name(self) -> str:
        return self.projection.name

    def current_position(self) -> int:
        """The view's position: this runner's, or the tracking row's if another process runs."""
        if not self.is_active:
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
                if not self.is_active:
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
