"""Composition root: the one place that chooses real adapters and wires them together."""

from __future__ import annotations

import hashlib
import os
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from adapters.blobs import BlobStore, FileBlobStore
from adapters.leases import LeaseSession
from adapters.mailbox_status import MailboxStatusStore
from adapters.persistence import PostgresTarget
from adapters.secrets import SecretBox, secret_box
from api.distribution import Distribution, build_distribution
from api.settings import Settings
from domain.application import ContactCenter
from projections.registry import ReadModels


def utc_now() -> datetime:
    return datetime.now(UTC)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return "ifx_" + secrets.token_urlsafe(32)


@dataclass
class Services:
    """Everything a route or a worker needs, built once per process."""

    settings: Settings
    app: ContactCenter
    read: ReadModels
    blobs: BlobStore
    secrets: SecretBox
    clock: Callable[[], datetime]
    distribution: Distribution
    mailbox_status: MailboxStatusStore
    workers: list[Any] = field(default_factory=list)

    def close(self) -> None:
        for worker in reversed(self.workers):
            worker.stop()
        self.distribution.close()
        self.mailbox_status.close()
        self.read.close()
        self.app.close()


def build(
    settings: Settings,
    *,
    clock: Callable[[], datetime] = utc_now,
    migrating: bool = False,
    embedded_workers: bool = True,
) -> Services:
    """With `settings.run_workers` the projections run here, and, when `embedded_workers`,
    the mail and dispatch workers too (the embedded default: one process does everything)."""
    persistence = settings.persistence(migrating=migrating)
    app = ContactCenter(env=persistence.application_env())
    read = ReadModels(persistence, app, start=settings.run_workers)
    app.saved_listeners.append(lambda position: read.wake())
    distribution = build_distribution(
        settings,
        persistence,
        app,
        clock=clock,
        board=read.dispatch,
        shared_runner=read.runners["dispatch"],
    )
    app.saved_listeners.append(lambda position: distribution.wake())
    blobs = FileBlobStore(settings.data_dir / "blobs")
    secrets = secret_box(settings.secret_key, settings.data_dir)
    services = Services(
        settings=settings,
        app=app,
        read=read,
        blobs=blobs,
        secrets=secrets,
        clock=clock,
        distribution=distribution,
        mailbox_status=MailboxStatusStore.open(persistence),
    )
    if settings.run_workers and embedded_workers:
        start_embedded_workers(services)
    return services


def start_embedded_workers(services: Services) -> None:
    from api.workers.ingest import Ingester  # the workers import this module
    from api.workers.send import SendWorker

    services.workers.append(SendWorker(services).start())
    services.workers.append(Ingester(services, services.mailbox_status).start())
    services.workers.append(services.distribution.start())


def lease_session(settings: Settings, worker: str) -> LeaseSession | None:
    """The session holding a worker process's leases on PostgreSQL (several processes of one
    kind on one database); None on the embedded default, where one process runs everything."""
    if not settings.database_url:
        return None
    target = PostgresTarget.from_url(settings.database_url, schema=settings.database_schema)
    owner = f"inboxflow-{worker}-{socket.gethostname()}-{os.getpid()}"
    return LeaseSession(target.conninfo(), schema=settings.database_schema, owner=owner)
