"""The worker killed with SIGKILL at random points, and restarted each time: every message is
recorded exactly once. Half of the kills land between a commit and its `\\Seen` flag."""

from __future__ import annotations

import os
import random
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from api.bootstrap import build
from api.settings import Settings
from domain.application.ingestion import Folder
from tests.integration.dovecot import Dovecot
from tests.integration.imap_stack import Stack, new_user, plain_email

pytest_plugins = ["tests.integration.conftest_imap"]

ROOT = Path(__file__).resolve().parents[2]
MESSAGES, KILLS, CHUNK = 500, 24, 7


class Worker:
    """`tests.integration.ingest_worker` in a subprocess, its output read line by line."""

    def __init__(self, settings: Settings) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "INBOXFLOW_LOG_LEVEL": "ERROR"}
        command = [sys.executable, "-m", "tests.integration.ingest_worker"]
        self.process = subprocess.Popen(
            [*command, settings.model_dump_json(), str(CHUNK)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self._buffer = b""

    def lines(self, timeout: float) -> Iterator[str]:
        """Lines as they come, until `timeout` passes without one."""
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        while True:
            while b"\n" in self._buffer:
                line, self._buffer = self._buffer.split(b"\n", 1)
                yield line.decode()
            ready, _, _ = select.select([fd], [], [], timeout)
            chunk = os.read(fd, 4096) if ready else b""
            if not chunk:
                return
            self._buffer += chunk

    def wait_for(self, prefix: str, timeout: float = 20.0) -> bool:
        return any(line.startswith(prefix) for line in self.lines(timeout))

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def terminate(self) -> int:
        self.process.terminate()
        return self.process.wait(20)


def test_a_worker_killed_at_random_points_loses_and_duplicates_nothing(
    dovecot: Dovecot, storage: Settings
) -> None:
    stack = Stack(build(storage))
    user = new_user(dovecot)
    mailbox_id = stack.add_mailbox(dovecot, user)
    sent = [plain_email(n) for n in range(MESSAGES)]
    dovecot.deliver(user.username, ((raw, time.time() - 3600) for raw in sent))
    rng = random.Random(3)
    in_window = 0
    try:
        for kill in range(KILLS):
            worker = Worker(storage)
            assert worker.wait_for("ready"), "the worker did not start"
            if kill % 2:  # right after a commit, inside the pause before `\Seen`
                in_window += worker.wait_for("committed", timeout=5)
            else:
                time.sleep(rng.uniform(0.0, 0.25))
            worker.kill()
        before_last_run = len(stack.interactions())
        worker = Worker(storage)
        deadline = time.monotonic() + 60
        while len(stack.interactions()) < MESSAGES and time.monotonic() < deadline:
            time.sleep(0.1)
        assert worker.terminate() == 0  # SIGTERM: a graceful stop
        recorded = [e.message["rfc_message_id"] for e in stack.interactions()]
        folder = Folder(stack.company_id, mailbox_id, "INBOX", 0)
        checkpoint = stack.services.app.checkpoint(folder)
    finally:
        stack.services.close()

    expected = [line.split(b": ", 1)[1].decode() for raw in sent for line in raw.split(b"\r\n")
                if line.startswith(b"Message-ID: ")]  # fmt: skip
    print(f"{before_last_run} of {MESSAGES} recorded during the {KILLS} killed runs")
    assert 0 < before_last_run < MESSAGES  # the kills fell while there was work
    assert len(recorded) == MESSAGES
    assert sorted(recorded) == sorted(expected)
    assert in_window >= KILLS // 2 - 2  # nearly every odd kill met a commit to land after
    assert checkpoint is not None
    assert checkpoint.last_uid == MESSAGES
    client = dovecot.client(user.username)
    client.select_folder("INBOX", readonly=True)
    unseen = client.search(["UNSEEN"])
    client.logout()
    assert 0 < len(unseen) < MESSAGES  # a kill before `\Seen` leaves it unset: never relied on
