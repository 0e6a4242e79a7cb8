"""`inboxflow` commands as real processes for the tests: their JSON log lines read as they come.

The commands run as `python -m api.cli ...` with `INBOXFLOW_LOG_FORMAT=json`, so each line on
standard error is one JSON object; the lifecycle lines carry `event` and `worker`.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
STOP_WITHIN = 10.0


def inboxflow(args: Sequence[str]) -> list[str]:
    """The command line of `inboxflow ARGS` in this checkout's interpreter."""
    return [sys.executable, "-m", "api.cli", *args]


class CliProcess:
    """One `inboxflow` command; `lines` collects its JSON log lines (stderr)."""

    def __init__(
        self,
        args: Sequence[str],
        env: Mapping[str, str],
        name: str = "",
        *,
        command: Sequence[str] | None = None,  # instead of `inboxflow ARGS`
    ) -> None:
        self.args, self.name = list(args), name or " ".join(args)
        self.process = subprocess.Popen(
            command or inboxflow(args),
            cwd=ROOT,
            env={"PYTHONPATH": str(ROOT), **env, "INBOXFLOW_LOG_FORMAT": "json"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group: `close` ends its children too
        )
        self.lines: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self._new: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for raw in self.process.stderr:
            text = raw.decode(errors="replace").rstrip("\n")
            self.raw.append(text)
            try:
                entry = json.loads(text)
            except ValueError:
                continue  # a traceback's lines, or a library printing on its own
            if isinstance(entry, dict):
                self.lines.append(entry)
                self._new.put(entry)

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_for(self, event: str, timeout: float = 30.0, **fields: Any) -> dict[str, Any]:
        """The first line with this `event` (and these fields); fails the test otherwise."""
        deadline = time.monotonic() + timeout
        for entry in list(self.lines):
            if _matches(entry, event, fields):
                return entry
        while (left := deadline - time.monotonic()) > 0:
            try:
                entry = self._new.get(timeout=min(left, 0.2))
            except queue.Empty:
                if self.process.poll() is not None and self._new.empty():
                    break
                continue
            if _matches(entry, event, fields):
                return entry
        raise AssertionError(
            f"{self.name}: no {event!r} line within {timeout} s "
            f"(exit {self.process.poll()}):\n" + "\n".join(self.raw[-30:])
        )

    def stop(self, signum: int = signal.SIGTERM, within: float = STOP_WITHIN) -> tuple[int, float]:
        """Sends `signum`; the exit status and the seconds it took (killed after `within`)."""
        started = time.monotonic()
        self.process.send_signal(signum)
        try:
            status = self.process.wait(within)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return -signal.SIGKILL, time.monotonic() - started
        return status, time.monotonic() - started

    def kill(self) -> float:
        """SIGKILL, as a machine or the OOM killer would; returns the moment it died."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        return time.monotonic()

    def close(self) -> None:
        """Kills whatever is left of the process group (uvicorn's server processes too)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


def _matches(entry: dict[str, Any], event: str, fields: Mapping[str, Any]) -> bool:
    return entry.get("event") == event and all(entry.get(k) == v for k, v in fields.items())


def base_environment(tmp: Path) -> dict[str, str]:
    """What a subprocess keeps of ours: no INBOXFLOW_* setting leaks in from the caller."""
    kept = {k: v for k, v in os.environ.items() if not k.startswith("INBOXFLOW_")}
    return {**kept, "TMPDIR": str(tmp)}  # the heartbeat files of this test only
