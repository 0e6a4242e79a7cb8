"""Wakes runners when any process commits to the log: PostgreSQL LISTEN on the log's NOTIFY
channel, on a connection of its own that is opened again when it breaks."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import psycopg
from eventsourcing.application import Application
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg import sql

logger = logging.getLogger(__name__)

RETRY_AFTER = 1.0


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
