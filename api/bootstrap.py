"""Composition root: the one place that chooses real adapters and wires them together."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from adapters.blobs import BlobStore, FileBlobStore
from adapters.secrets import SecretBox, secret_box
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

    def close(self) -> None:
        self.read.close()
        self.app.close()


def build(
    settings: Settings, *, clock: Callable[[], datetime] = utc_now, migrating: bool = False
) -> Services:
    persistence = settings.persistence(migrating=migrating)
    app = ContactCenter(env=persistence.application_env())
    read = ReadModels(persistence, app, start=settings.run_workers)
    app.saved_listeners.append(lambda position: read.wake())
    blobs = FileBlobStore(settings.data_dir / "blobs")
    secrets = secret_box(settings.secret_key, settings.data_dir)
    return Services(
        settings=settings, app=app, read=read, blobs=blobs, secrets=secrets, clock=clock
    )
