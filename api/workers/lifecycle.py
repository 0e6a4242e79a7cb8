"""How every worker process lives: one `ready` line, a heartbeat file, a bounded stop.

Each line is a log record of the logger `inboxflow.<worker>` (standard error), with
`extra={"event": "ready" | "stopping" | "stopped" | "abandoned" | "failed", "worker": ...}`.
SIGTERM and SIGINT ask the worker to finish the work in hand: every piece of work commits in
one transaction (a projection page with its tracking row, a mail chunk with its checkpoint), so
whatever is not finished within `STOP_BUDGET` seconds is abandoned safely, the process exits 0,
and the database rolls back what was not committed. While the worker is sound, the process
touches a heartbeat file, which `inboxflow healthcheck <worker>` checks (container health).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any, Protocol

STOP_BUDGET = 8.0  # seconds from the signal to the exit, whatever is still running
BEAT_EVERY = 5.0
STALE_AFTER = 30.0


def logger(worker: str) -> logging.Logger:
    return logging.getLogger(f"inboxflow.{worker}")


def announce(worker: str, event: str, level: int = logging.INFO, **details: Any) -> None:
    """One lifecycle line: `event` is the message too, so that any formatter shows it."""
    extra = {"event": event, "worker": worker, "pid": os.getpid(), **details}
    logger(worker).log(level, event, extra=extra)


def heartbeat_file(worker: str) -> Path:
    """Per container (a temporary directory is not shared between services)."""
    return Path(tempfile.gettempdir()) / f"inboxflow-{worker}.alive"


def heartbeat_age(worker: str) -> float | None:
    """Seconds since the worker's last heartbeat; None if it never beat (or stopped)."""
    try:
        return time.time() - heartbeat_file(worker).stat().st_mtime
    except FileNotFoundError:
        return None


def exit_after(budget: float, worker: str, status: Callable[[], int] = lambda: 0) -> None:
    """Ends the process after `budget` seconds, whatever is still running."""

    def deadline() -> None:
        time.sleep(budget)
        announce(worker, "abandoned", logging.WARNING, after_seconds=budget)
        for handler in logging.getLogger().handlers:
            handler.flush()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status())

    threading.Thread(target=deadline, name="stop-deadline", daemon=True).start()


class WorkerProcess:
    """Create first thing in a worker's `main`: from then on SIGTERM and SIGINT stop it."""

    def __init__(self, worker: str, *, budget: float = STOP_BUDGET) -> None:
        self.worker, self.budget = worker, budget
        self.status = 0
        self.stopping = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._signalled)
        # waits on the event rather than being started by the handler, which may not take locks
        threading.Thread(target=self._deadline, name="stop-watch", daemon=True).start()

    def _signalled(self, signum: int, frame: FrameType | None) -> None:
        self.stopping.set()

    def _deadline(self) -> None:
        self.stopping.wait()
        exit_after(self.budget, self.worker, lambda: self.status)

    def run(
        self,
        stop: Callable[[], None],
        failure: Callable[[], str | None] = lambda: None,
        **details: Any,
    ) -> int:
        """Announces `ready`, beats until a signal or a `failure` (which ends with status 1),
        then runs `stop`; returns the exit status."""
        if not self.stopping.is_set():  # a signal during the start: straight to the stop
            announce(self.worker, "ready", **details)
        beat = heartbeat_file(self.worker)
        while not self.stopping.is_set():
            problem = failure()
            if problem is not None:
                announce(self.worker, "failed", logging.ERROR, reason=problem)
                self.status = 1
                self.stopping.set()
                break
            beat.touch()
            self.stopping.wait(BEAT_EVERY)
        announce(self.worker, "stopping")
        stop()
        beat.unlink(missing_ok=True)
        announce(self.worker, "stopped")
        return self.status


class Worker(Protocol):
    """A worker a process runs until it is told to stop."""

    @property
    def is_running(self) -> bool: ...

    def stop(self, timeout: float) -> Any: ...


class Closable(Protocol):
    def close(self) -> Any: ...


def run_worker(
    process: WorkerProcess,
    worker: Worker,
    *resources: Closable | None,
    banner: str,
    leased: bool,
) -> int:
    """Runs `process` until a signal or until `worker` stops by itself, then stops the worker
    and closes `resources` in order; `banner` is the first line on stdout, which older tools
    wait for."""

    def stop() -> None:
        worker.stop(process.budget - 2)
        for resource in resources:
            if resource is not None:
                resource.close()

    def failure() -> str | None:
        return None if worker.is_running else f"the {process.worker} worker stopped"

    print(banner, flush=True)
    return process.run(stop, failure, leased=leased)
