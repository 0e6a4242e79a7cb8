"""The `dispatch` worker: offers waiting email to agents and runs the timers, in a loop.

In-process on the embedded default (`start()` / `stop()`), or `inboxflow dispatch` against
PostgreSQL, as many as wanted: an offer conflicts on the interaction's and the agent's versions,
so two workers never offer one email twice nor fill one agent beyond capacity; the dispatch
board and the notifications are claimed projections (each page applied, and each note
published, by one process), so no lease is needed.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from time import monotonic

from adapters.presence import Presence
from api.settings import Settings
from api.workers.dispatch_cycle import Cycle, offer_waiting, run_timers
from api.workers.lifecycle import WorkerProcess
from domain.application import ContactCenter
from projections.base import is_transient
from projections.dispatch import DispatchBoard
from projections.notifications import Notifications
from projections.runner import CatchUpRunner

logger = logging.getLogger(__name__)

RETRY_AFTER = 1.0
CACHED_AGGREGATES = 10_000


class Dispatcher:
    """Runs dispatch cycles: after every change to the log, and every `idle_poll` seconds."""

    def __init__(
        self,
        app: ContactCenter,
        board: DispatchBoard,
        presence: Presence,
        clock: Callable[[], datetime],
        *,
        shared_runner: CatchUpRunner | None = None,
        idle_poll: float = 0.25,
        timer_every: float = 1.0,
        name: str | None = None,
        max_offers: int = 4,
        parallel_offers: int = 1,
    ) -> None:
        self.app, self.board, self.presence, self.clock = app, board, presence, clock
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"  # recorded with each offer
        self.shared_runner = shared_runner  # the board's runner if this process runs one
        self._runner = CatchUpRunner(app, board, listen=False)
        self.idle_poll, self.timer_every, self.max_offers = idle_poll, timer_every, max_offers
        self.parallel_offers = parallel_offers
        self.executor: ThreadPoolExecutor | None = None  # while running, if parallel
        self.error: BaseException | None = None
        self._timers_at = 0.0
        self._wakeup = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def catch_up(self, timeout: float = 5.0) -> int:
        """Brings the board up to the log's head; returns the position it reached."""
        head = self.app.recorder.max_notification_id() or 0
        runner = self._board_runner()
        if runner.is_running:
            runner.wake()
            runner.wait(head, timeout)
            return runner.current_position()
        deadline = monotonic() + timeout
        while runner.current_position() < head and monotonic() < deadline:
            if not runner.run_once():
                break
        return runner.current_position()

    def _board_runner(self) -> CatchUpRunner:
        """The read models' runner of the board if it runs in this process, else our own."""
        shared = self.shared_runner
        return shared if shared is not None and shared.is_running else self._runner

    def run_once(self, *, timers: bool = True) -> Cycle:
        """One cycle: catch up, the timers (if asked), then offers."""
        cycle = Cycle()
        self.catch_up()
        if timers:
            run_timers(self.app, self.board, self.presence, self.clock(), cycle)
        position = self.catch_up() if cycle.changed else self._board_runner().current_position()
        offer_waiting(
            self.app,
            self.board,
            self.presence,
            self.clock(),
            cycle,
            seen_position=position,
            dispatcher=self.name,
            max_offers=self.max_offers,
            executor=self.executor,
        )
        return cycle

    # --- running in a thread ------------------------------------------------------------

    @property
    def is_running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wake(self) -> None:
        self._wakeup.set()
        self._runner.wake()

    def start(self) -> None:
        """Runs cycles in a thread, and the board's own runner in another if nobody runs it."""
        if self.is_running:
            return
        if self.shared_runner is None or not self.shared_runner.is_running:
            self._runner.start()
        if self.parallel_offers > 1:
            self.executor = ThreadPoolExecutor(self.parallel_offers, thread_name_prefix="offer")
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="dispatch", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        self._wakeup.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._runner.stop()
        if self.executor is not None:
            self.executor.shutdown(wait=True)
            self.executor = None

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wakeup.clear()
            due = monotonic() >= self._timers_at
            try:
                cycle = self.run_once(timers=due)
            except Exception as error:  # the top-level loop: log, wait, go on
                level = logging.WARNING if is_transient(error) else logging.ERROR
                logger.log(
                    level, "dispatch cycle failed: %s", error, exc_info=not is_transient(error)
                )
                self.error = error
                self._stopping.wait(RETRY_AFTER)
                continue
            self.error = None
            if due:
                self._timers_at = monotonic() + self.timer_every
            if not cycle.offers:
                self._wakeup.wait(min(self.idle_poll, max(0.0, self._timers_at - monotonic())))


def migrate(settings: Settings) -> None:
    """Creates the tables of distribution's own views (`inboxflow migrate`)."""
    persistence = settings.persistence(migrating=True)
    for view in (DispatchBoard, Notifications):
        view.open(persistence.view_datastore(view.name), create_tables=True).view.close()


def utc_now() -> datetime:
    return datetime.now(UTC)


def main(settings: Settings) -> int:
    """`inboxflow dispatch`: the dispatch worker alone, until SIGTERM or SIGINT."""
    from api.distribution import build_distribution  # it builds a Dispatcher: import here

    process = WorkerProcess("dispatch")
    persistence = settings.persistence()
    env = {**persistence.application_env(), "AGGREGATE_CACHE_MAXSIZE": str(CACHED_AGGREGATES)}
    app = ContactCenter(env=env)  # commands trust the cache; a stale copy costs a retry
    distribution = build_distribution(settings, persistence, app, clock=utc_now)
    app.saved_listeners.append(lambda position: distribution.wake())
    distribution.start()

    def stop() -> None:
        distribution.close()
        app.close()

    def failure() -> str | None:
        return None if distribution.dispatcher.is_running else "the dispatcher stopped"

    print("dispatch running", flush=True)  # the first line on stdout, which older tools wait for
    return process.run(stop, failure, dispatcher=distribution.dispatcher.name)
