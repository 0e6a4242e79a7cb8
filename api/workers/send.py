"""The `send` worker: delivers the outbox over SMTP and records what the servers answered.

Each pass catches the outbox view up with the log, decides auto-replies, then delivers what is
due, one SMTP session per mailbox. `reply_sent` (with the server's answer) is recorded only
after acceptance; a crash between the two resends once, with the same bytes and Message-ID.
Catching up first is what keeps a recorded email from being sent again: its `reply_sent` or
`send_failed` has removed its row before rows are picked. Temporary failures wait with
exponential backoff; a permanent one, or the last attempt, records `send_failed`. One send
worker delivers per event store (in `serve` on the embedded default, else `inboxflow send`): it
owns the outbox view, and every worker claims rows under the same name. On PostgreSQL any number
of `inboxflow send` processes may run: a lease (`adapters.leases`) lets one deliver while the
others stand by; the one that takes over first takes back the rows its predecessor held.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from itertools import groupby
from operator import itemgetter
from typing import Any, TypeVar
from uuid import UUID

from adapters.blobs import BlobNotFound
from adapters.leases import Lease
from adapters.smtp_sender import DeliveryError, PermanentFailure, SmtpSession, SmtpSettings
from api.bootstrap import Services, build, lease_session
from api.metrics import count_send_failure
from api.settings import Settings
from api.workers.auto_reply import AutoReplies
from api.workers.lifecycle import WorkerProcess, run_worker
from projections.base import Row, is_transient
from projections.listener import Listener
from projections.outbox import PendingSends
from projections.runner import CatchUpRunner

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Retry:
    """Backoff for temporary failures: 30 s, 1, 2, 4 ... minutes, at most an hour apart."""

    max_attempts: int = 10
    first_delay: timedelta = timedelta(seconds=30)
    max_delay: timedelta = timedelta(hours=1)

    def delay(self, attempts: int) -> timedelta:
        step: timedelta = self.first_delay * 2 ** max(0, attempts - 1)
        return min(step, self.max_delay)


@dataclass(frozen=True)
class SendConfig:
    name: str = "send"  # owner of the leases this worker takes back after a crash
    batch: int = 100
    lease: timedelta = timedelta(minutes=10)  # longer than any SMTP transaction
    idle_poll: float = 1.0
    unconfigured_delay: timedelta = timedelta(minutes=1)
    retry: Retry = field(default_factory=Retry)


class SendWorker:
    """Delivers queued email; `run_once()` for one pass, `start()`/`stop()` in a thread."""

    def __init__(
        self, services: Services, config: SendConfig | None = None, *, lease: Lease | None = None
    ) -> None:
        self.services, self.config = services, config or SendConfig()
        self.lease = lease  # with several send processes: deliver only while holding it
        persistence = services.settings.persistence()
        self.outbox = PendingSends.open(
            persistence.view_datastore(PendingSends.name),
            create_tables=persistence.create_tables,
        )
        self.catch_up = CatchUpRunner(services.app, self.outbox, listen=False)
        self.auto_replies = AutoReplies(services, self.outbox)
        self._stopping, self._wakeup = threading.Event(), threading.Event()
        self._thread: threading.Thread | None = None
        self._listener: Listener | None = None

    # --- one pass ------------------------------------------------------------------------

    def run_once(self) -> int:
        """Catch up, decide auto-replies, deliver what is due; returns how much was done."""
        self._catch_up()
        done = self.auto_replies.run(self.config.batch)
        if done:
            self._catch_up()  # the auto-replies just queued
        due = self.outbox.due(self.services.clock(), self.config.batch)
        if due:
            asyncio.run(self._deliver(due))
        return done + len(due)

    def _catch_up(self) -> None:
        while self.catch_up.run_once() == self.catch_up.page_size:
            pass

    async def _deliver(self, due: list[Row]) -> None:
        mailbox_of = itemgetter("company_id", "mailbox")
        for (company_id, mailbox), rows in groupby(sorted(due, key=mailbox_of), key=mailbox_of):
            if self._stopping.is_set():
                return
            await self._deliver_from(company_id, mailbox, list(rows))

    async def _deliver_from(self, company_id: str, mailbox: str, rows: list[Row]) -> None:
        settings, problem = self._settings(company_id, mailbox)
        now = self.services.clock()
        if settings is None:  # wait for an admin, without spending attempts
            for row in rows:
                self.outbox.defer(
                    row["record_id"], now + self.config.unconfigured_delay, problem, attempt=False
                )
            return
        claimed = self.outbox.claim(
            [r["record_id"] for r in rows], self.config.name, now, now + self.config.lease
        )
        rows = [r for r in rows if r["record_id"] in claimed]
        session = SmtpSession(settings)
        try:
            await session.open()
        except DeliveryError as error:
            for row in rows:
                self._failed(row, error)
            return
        untried = [r["record_id"] for r in rows]
        try:
            for row in rows:
                if self._stopping.is_set() or not self._holds_lease():
                    break
                if session.broken:
                    session = await SmtpSession(settings).open()
                untried.remove(row["record_id"])  # a sent one keeps its lease until its row goes
                await self._send(session, row)
        except DeliveryError as error:
            log.warning("SMTP session for %s lost: %s", mailbox, error)
        finally:
            await session.close()
            self.outbox.release(untried)

    async def _send(self, session: SmtpSession, row: Row) -> None:
        interaction_id, record_id = UUID(row["interaction_id"]), row["record_id"]
        try:
            data = self.services.blobs.get(row["blob"])
        except BlobNotFound:
            self._failed(row, PermanentFailure(f"the bytes {row['blob']} are missing"))
            return
        try:
            response = await session.send(row["envelope_from"], json.loads(row["recipients"]), data)
        except DeliveryError as error:
            self._failed(row, error)
            return
        self._durably(
            lambda: self.services.app.record_delivery(
                interaction_id,
                record_id,
                kind=row["kind"],
                response=response,
                at=self.services.clock(),
            )
        )

    def _failed(self, row: Row, error: DeliveryError) -> None:
        attempts = int(row["attempts"]) + 1
        log.warning("sending %s failed (attempt %s): %s", row["record_id"], attempts, error)
        count_send_failure(error.temporary)
        if error.temporary and attempts < self.config.retry.max_attempts:
            retry_at = self.services.clock() + self.config.retry.delay(attempts)
            self.outbox.defer(row["record_id"], retry_at, str(error), attempt=True)
            return
        reason = (
            str(error) if not error.temporary else f"gave up after {attempts} attempts: {error}"
        )
        self._durably(
            lambda: self.services.app.record_send_failure(
                UUID(row["interaction_id"]),
                row["record_id"],
                error=reason,
                at=self.services.clock(),
            )
        )

    def _settings(self, company_id: str, mailbox: str) -> tuple[SmtpSettings | None, str]:
        company = self.services.app.company(UUID(company_id))
        box = company.mailbox_by_address(mailbox)
        if box is None:
            return None, f"mailbox {mailbox} no longer exists"
        try:
            settings = SmtpSettings.of_mailbox(box.get("settings", {}), self.services.secrets.open)
        except (KeyError, TypeError, ValueError) as error:
            return None, f"the SMTP settings of {mailbox} are unusable: {error}"
        return settings, "" if settings else f"mailbox {mailbox} has no SMTP settings"

    def _durably(self, record: Callable[[], T]) -> T:
        """The server has accepted: keep trying to record it rather than send again."""
        while True:
            try:
                return record()
            except Exception as error:
                if not is_transient(error) or self._stopping.is_set():
                    raise
                log.warning("recording a delivery failed, retrying: %s", error)
                time.sleep(1.0)

    # --- running in a thread or as a process --------------------------------------------

    def wake(self, *_: Any) -> None:
        self._wakeup.set()

    def start(self) -> SendWorker:
        if self._thread is not None and self._thread.is_alive():
            return self
        self._stopping.clear()
        self.services.app.saved_listeners.append(self.wake)
        if Listener.applies(self.services.app):
            self._listener = Listener(self.services.app, self.wake)
            self._listener.start()
        self._thread = threading.Thread(target=self.run_forever, name="send", daemon=True)
        self._thread.start()
        return self

    def _holds_lease(self) -> bool:
        return self.lease is None or self.lease.held

    def _take_over(self) -> bool:
        """Holds the lease (if any); on taking it, takes back the rows the previous holder (or
        our previous life) had claimed when it died."""
        if self.lease is not None and not self.lease.acquire():
            return False
        try:
            released = self.outbox.release_leases(self.config.name)
        except Exception:
            if self.lease is not None:
                self.lease.release()
            raise
        log.info(
            "send worker active; %s emails taken back",
            released,
            extra={"event": "lease_acquired", "lease": "send", "taken_back": released},
        )
        return True

    def run_forever(self) -> None:
        active = False
        while not self._stopping.is_set():
            self._wakeup.clear()
            try:
                active = (active and self._holds_lease()) or self._take_over()
                if not active:
                    self._stopping.wait(self.config.idle_poll)
                    continue
                done = self.run_once()
            except Exception:  # the top-level loop: log, keep the outbox, try again
                log.exception("send worker pass failed")
                done = 0
                self._stopping.wait(self.config.idle_poll)
            if done < self.config.batch:
                self._wakeup.wait(self.config.idle_poll)

    @property
    def is_running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def request_stop(self, *_: Any) -> None:
        """Finish the email in hand, then stop (SIGTERM)."""
        self._stopping.set()
        self._wakeup.set()

    def stop(self, timeout: float = 30.0) -> None:
        self.request_stop()
        if self.wake in self.services.app.saved_listeners:
            self.services.app.saved_listeners.remove(self.wake)
        if self._listener is not None:
            self._listener.stop()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.outbox.view.close()


def migrate(settings: Settings) -> None:
    """Creates the outbox view's tables (PostgreSQL: called from `inboxflow migrate`)."""
    persistence = settings.persistence(migrating=True)
    PendingSends.open(persistence.view_datastore(PendingSends.name)).view.close()


def main(settings: Settings) -> int:
    """`inboxflow send`: deliver until SIGTERM, then finish the email in hand and exit."""
    process = WorkerProcess("send")
    services = build(settings.model_copy(update={"run_workers": False}))
    leases = lease_session(settings, "send")
    lease = leases.lease("send", "outbox") if leases is not None else None
    if lease is not None:
        lease.acquire()  # at once if it is free: a standby tries again every second
    worker = SendWorker(services, lease=lease).start()
    return run_worker(
        process, worker, services, leases, banner="send worker running", leased=lease is not None
    )
