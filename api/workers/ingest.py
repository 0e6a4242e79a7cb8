"""The `ingest` worker: one process, many mailboxes, one thread and connection per mailbox.

The ingester reads which mailboxes have IMAP settings from the log and keeps one
`MailboxWorker` per mailbox: started when it appears, restarted when its settings change,
stopped when it goes. `start()`/`stop()` run it inside another process (`serve` on the embedded
default); `main(settings)` is `inboxflow ingest`, which stops gracefully on SIGTERM. On
PostgreSQL several `inboxflow ingest` processes share the mailboxes (`mailbox_share`).
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from time import monotonic
from typing import Any
from uuid import UUID

from adapters.imap_mailbox import ImapSettings
from adapters.leases import LeaseSession
from adapters.mailbox_status import MailboxStatusStore
from api.bootstrap import Services, build, lease_session
from api.settings import Settings
from api.workers.ingest_mailbox import Committed, IngestContext, IngestOptions, MailboxWorker
from api.workers.lifecycle import WorkerProcess, run_worker
from api.workers.mailbox_directory import MailboxDirectory
from api.workers.mailbox_share import MailboxShare

log = logging.getLogger(__name__)
STOP_TIMEOUT = 10.0
LEASE_RETRY = 1.0  # with leases: how often to look for mailboxes to take over or give back


class Ingester:
    """Keeps one ingestion thread per IMAP mailbox of every company."""

    def __init__(
        self,
        services: Services,
        status: MailboxStatusStore,
        options: IngestOptions | None = None,
        *,
        on_committed: Committed | None = None,
        leases: LeaseSession | None = None,
    ) -> None:
        options = options or IngestOptions()
        pool = ThreadPoolExecutor(options.prepare_threads, thread_name_prefix="ingest-prepare")
        self.context = IngestContext(services, status, options, pool, on_committed)
        self.directory = MailboxDirectory(services.app)
        self.workers: dict[UUID, MailboxWorker] = {}
        self.share = MailboxShare(leases) if leases is not None else None
        self.leaving: list[MailboxWorker] = []  # stopped, perhaps still finishing a chunk
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Ingester:
        if self._thread is None:
            self._thread = threading.Thread(target=self._supervise, name="ingest", daemon=True)
            self._thread.start()
        return self

    @property
    def is_running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Lets each mailbox finish the chunk it is recording, then returns."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.context.pool.shutdown(wait=False)

    def _supervise(self) -> None:
        every = self.context.options.refresh_seconds
        if self.share is not None:
            every = min(every, LEASE_RETRY)
        while not self._stopping.is_set():
            try:
                self.reconcile()
            except Exception:  # top-level loop: the mailboxes keep running; look again later
                log.exception("reading the list of mailboxes failed")
            self._stopping.wait(every)
        for worker in self.workers.values():
            worker.stop()
        deadline = monotonic() + STOP_TIMEOUT  # a thread stuck in a connect is left behind
        for worker in [*self.workers.values(), *self.leaving]:
            worker.join(max(0.0, deadline - monotonic()))
        self.workers.clear()

    def reconcile(self) -> None:
        """Starts, restarts and stops mailbox threads to match the mailboxes' settings now."""
        wanted: dict[UUID, tuple[UUID, ImapSettings]] = {}
        for mailbox_id, (company_id, mailbox) in self.directory.refresh().items():
            settings = self._settings(company_id, mailbox_id, mailbox)
            if settings is not None:
                wanted[mailbox_id] = (company_id, settings)
        if self.share is not None:
            self.leaving = [w for w in self.leaving if w.is_alive]
            busy = {w.mailbox_id for w in [*self.leaving, *self.workers.values()] if w.is_alive}
            mine = self.share.assign(list(wanted), busy)
            wanted = {m: wanted[m] for m in mine}
        for mailbox_id, worker in list(self.workers.items()):
            if (
                wanted.get(mailbox_id) != (worker.company_id, worker.settings)
                or not worker.is_alive
            ):
                worker.stop()
                self.leaving.append(worker)
                del self.workers[mailbox_id]
        for mailbox_id, (company_id, settings) in wanted.items():
            if mailbox_id not in self.workers:
                worker = MailboxWorker(self.context, company_id, mailbox_id, settings)
                self.workers[mailbox_id] = worker
                worker.start()

    def _settings(
        self, company_id: UUID, mailbox_id: UUID, mailbox: dict[str, Any]
    ) -> ImapSettings | None:
        try:
            return ImapSettings.of_mailbox(mailbox, self.context.services.secrets)
        except (KeyError, TypeError, ValueError) as error:  # another key, or malformed
            self.context.status.update(
                mailbox_id,
                company_id,
                at=self.context.services.clock(),
                connected=False,
                last_error=f"cannot read the IMAP settings: {error}",
                last_error_at=self.context.services.clock(),
            )
            return None


def main(settings: Settings, options: IngestOptions | None = None) -> int:
    """`inboxflow ingest`: until SIGTERM or SIGINT. Read models come from `inboxflow project`
    (or, embedded, from `serve`). On PostgreSQL the mailboxes are shared with the other
    `inboxflow ingest` processes."""
    process = WorkerProcess("ingest")
    services = build(settings.model_copy(update={"run_workers": False}))
    leases = lease_session(settings, "ingest")
    ingester = Ingester(services, services.mailbox_status, options, leases=leases)
    ingester.start()
    return run_worker(
        process, ingester, services, leases, banner="ingesting", leased=leases is not None
    )
