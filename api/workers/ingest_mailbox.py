"""One mailbox's ingestion thread: its own connection and failure domain.

Connect, catch every folder up from its checkpoint (fetch a chunk, store and parse it, record it
with the checkpoint in one transaction, then flag it `\\Seen`), wait for news (IDLE, with a full
re-check every poll interval; polling where IDLE is not possible), and start again. Failures
are recorded on the mailbox's status and retried with exponential backoff.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import timedelta
from time import monotonic
from typing import Any
from uuid import UUID

from adapters.event_index import recorded
from adapters.imap_mailbox import ImapFailure, ImapMailbox, ImapRefused, ImapSettings, RawMessage
from adapters.inbound import Prepared, prepare_many
from adapters.mailbox_status import MailboxStatusStore
from adapters.mime import ParseLimits
from api.bootstrap import Services
from api.metrics import count_ingested
from domain.application.ingestion import FetchedEmail, Folder, Ingested
from domain.checkpoint import CheckpointBehind
from domain.errors import MailboxNotFound

log = logging.getLogger(__name__)

Committed = Callable[[Folder, Ingested], None]


@dataclass(frozen=True)
class IngestOptions:
    chunk_messages: int = 200
    chunk_bytes: int = 32 * 1024 * 1024  # a larger message is fetched alone
    refresh_seconds: float = 5.0  # how often the list of mailboxes is read again
    pause_check_seconds: float = 1.0  # while paused by the open limit
    first_backoff: float = 1.0
    refused_backoff_max: float = 900.0  # wrong password or certificate: retrying soon won't help
    timeout: float = 30.0  # IMAP socket timeout
    prepare_threads: int = 2  # chunks stored and parsed at once, across mailboxes


@dataclass(frozen=True)
class IngestContext:
    """What every mailbox thread of one ingester shares."""

    services: Services
    status: MailboxStatusStore
    options: IngestOptions
    pool: Executor  # stores and parses the messages of a chunk in parallel
    on_committed: Committed | None = None  # runs between the commit and `\\Seen`


class MailboxWorker:
    """Ingests one mailbox in its own thread until stopped."""

    def __init__(
        self, context: IngestContext, company_id: UUID, mailbox_id: UUID, settings: ImapSettings
    ) -> None:
        self.context, self.company_id, self.mailbox_id = context, company_id, mailbox_id
        self.settings = settings
        self.limits = ParseLimits(max_bytes=context.services.settings.max_message_bytes)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"ingest-{mailbox_id}", daemon=True)
        self._refused_at: tuple[int, float] | None = None  # log position and time of a refusal
        self._paused = False
        self._failures = 0  # in a row: reset once every folder was caught up
        self._recorder = ThreadPoolExecutor(1, thread_name_prefix=f"ingest-record-{mailbox_id}")

    @property
    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        try:
            self._connected_loop()
        finally:
            self._recorder.shutdown()
        self._status(connected=False)

    def _connected_loop(self) -> None:
        while not self._stopping.is_set():
            mailbox = ImapMailbox(self.settings, timeout=self.context.options.timeout)
            try:
                mailbox.connect()
                self._status(connected=True, next_attempt_at=None)
                self._serve(mailbox)
            except MailboxNotFound:
                return  # removed meanwhile: the ingester stops this thread
            except Exception as error:  # top-level loop of this mailbox: record, back off, retry
                self._failures += 1
                self._failed(error, self._failures)
            finally:
                mailbox.close()

    def _failed(self, error: Exception, failures: int) -> None:
        if isinstance(error, ImapFailure):
            log.warning("mailbox %s: %s", self.mailbox_id, error)
        else:
            log.exception("mailbox %s failed", self.mailbox_id)
        options = self.context.options
        cap = options.refused_backoff_max if isinstance(error, ImapRefused) else None
        delay = min(cap or self.settings.poll_seconds, options.first_backoff * 2 ** (failures - 1))
        delay *= random.uniform(0.8, 1.0)
        now = self.context.services.clock()
        self._status(
            connected=False,
            last_error=f"{type(error).__name__}: {error}"[:1000],
            last_error_at=now,
            failures=failures,
            next_attempt_at=now + timedelta(seconds=delay),
        )
        self._stopping.wait(delay)

    def _serve(self, mailbox: ImapMailbox) -> None:
        folders = self.settings.folders
        while not self._stopping.is_set():
            for folder in folders:
                if self._limit_paused() or self._stopping.is_set():
                    break
                self._catch_up(mailbox, folder)
            else:
                if self._failures:
                    self._failures = 0
                    self._status(failures=0)
            if self._paused:
                self._stopping.wait(self.context.options.pause_check_seconds)
                mailbox.noop()
            elif len(folders) == 1 and mailbox.can_idle:
                mailbox.wait_for_news(self.settings.poll_seconds, self._stopping)
            else:
                self._stopping.wait(self.settings.poll_seconds)

    def _catch_up(self, mailbox: ImapMailbox, name: str) -> None:
        """Fetches chunk k+1 (and stores and parses it) while chunk k is being recorded."""
        app = self.context.services.app
        state = mailbox.select(name)
        folder = Folder(self.company_id, self.mailbox_id, name, state.uidvalidity)
        checkpoint = app.checkpoint(folder)
        same = checkpoint is not None and checkpoint.uidvalidity == state.uidvalidity
        after = checkpoint.last_uid if checkpoint is not None and same else 0
        if state.uidnext is not None and state.uidnext <= after + 1:
            return
        count, size = self._chunk_size(), self.context.options.chunk_bytes
        recording: Future[Ingested] | None = None
        try:
            for chunk in mailbox.chunks(after, count=count, size=size):
                if not chunk:
                    continue  # expunged meanwhile
                prepared = self.context.pool.submit(self._prepare, chunk)
                if recording is not None and not self._recorded(mailbox, folder, recording):
                    return
                recording = self._recorder.submit(self._record, folder, chunk, prepared, after)
                after = chunk[-1].uid
            if recording is not None:
                self._recorded(mailbox, folder, recording)
        finally:
            if recording is not None:
                wait([recording])  # never leave a chunk being recorded behind

    def _chunk_size(self) -> int:
        """Near the open limit, no more messages than there are free places."""
        row = self.context.services.read.company_limits.get(self.company_id)
        chunk = self.context.options.chunk_messages
        if row is None or row["open_limit"] is None:
            return chunk
        return max(1, min(chunk, int(row["open_limit"]) - int(row["open_count"])))

    def _prepare(self, chunk: list[RawMessage]) -> list[Prepared]:
        raws = [m.raw for m in chunk]
        return prepare_many(raws, self.context.services.blobs, self.limits)

    def _record(
        self,
        folder: Folder,
        chunk: list[RawMessage],
        prepared: Future[list[Prepared]],
        after: int,
    ) -> Ingested:
        services = self.context.services
        fetched = [
            FetchedEmail(m.uid, p.blob, m.internaldate, p.email, p.problem)
            for m, p in zip(chunk, prepared.result(), strict=True)
        ]
        app = services.app
        wanted = app.lookups(folder, fetched)
        known = recorded(app.recorder, wanted)
        return app.ingest(
            folder,
            fetched,
            after=after,
            at=services.clock(),
            find_by_ref=services.read.search.find_by_short_ref,
            absent=() if known is None else wanted - known,
        )

    def _recorded(self, mailbox: ImapMailbox, folder: Folder, recording: Future[Ingested]) -> bool:
        """After the commit: `\\Seen` and the status. False when fetching must start again
        from the checkpoint (the open limit refused a message) or should stop."""
        try:
            done = recording.result()
        except CheckpointBehind:
            return False  # a UID vanished between the search and the fetch: look again
        count_ingested(self.mailbox_id, done)
        if self.context.on_committed is not None:
            self.context.on_committed(folder, done)
        mailbox.mark_seen(done.covered)
        self._status(last_fetch_at=self.context.services.clock(), last_uid=done.last_uid,
                     add_ingested=len(done.covered))  # fmt: skip
        if done.limit_reached:
            self._refused_at = (done.position, monotonic())
        paused = self._limit_paused()  # after a refusal: paused until the view has seen it
        return not (done.limit_reached or paused or self._stopping.is_set())

    def _limit_paused(self) -> bool:
        """The limits view decides; after a refusal, only once it has seen that position."""
        services = self.context.services
        limits = services.read.company_limits
        row = limits.get(self.company_id)
        paused = bool(row and row["paused"])
        if self._refused_at is not None:
            position, since = self._refused_at
            seen = (limits.view.max_tracking_id(services.app.name) or 0) >= position
            if not seen and monotonic() - since > self.settings.poll_seconds:
                seen, paused = True, self._quota_full()  # the view lags: ask the quota itself
            paused = paused or not seen
            if not paused:
                self._refused_at = None
        if paused != self._paused:
            self._paused = paused
            self._status(paused_by_limit=paused)
        return paused

    def _quota_full(self) -> bool:
        app = self.context.services.app
        return app.quota(self.company_id).open_count >= app.company(self.company_id).open_limit

    def _status(self, **fields: Any) -> None:
        at = self.context.services.clock()
        self.context.status.update(self.mailbox_id, self.company_id, at=at, **fields)
