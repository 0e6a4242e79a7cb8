"""One IMAP mailbox over imapclient: verified TLS, `BODY.PEEK[]` fetches in chunks, IDLE.

Reading never changes a message: `\\Seen` is set only by `mark_seen`, after the caller has
committed what it fetched, and nothing here relies on it.
"""

from __future__ import annotations

import imaplib
import ssl
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from time import monotonic
from typing import Any, Literal

from imapclient import IMAPClient
from imapclient.exceptions import LoginError

from adapters.secrets import SecretBox

SEEN = b"\\Seen"
NEWS = (b"EXISTS", b"RECENT")
SIZES_PER_FETCH = 1000
IDLE_STEP = 0.25  # seconds between looks at the stop flag while idling


class ImapFailure(Exception):
    """The server could not be used now: unreachable, TLS refused, dropped, or erring."""


class ImapRefused(ImapFailure):
    """The credentials or the server's certificate were refused: retrying soon will not help."""


@dataclass(frozen=True)
class ImapSettings:
    """Where and how to reach one mailbox; the password is opened only in memory."""

    host: str
    port: int
    tls: Literal["implicit", "starttls", "none"]
    username: str
    password: str = field(repr=False)
    ca_file: str | None = None
    folders: tuple[str, ...] = ("INBOX",)
    poll_seconds: float = 30.0
    allow_plaintext: bool = False

    @classmethod
    def of_mailbox(cls, mailbox: Mapping[str, Any], box: SecretBox) -> ImapSettings | None:
        """The mailbox's IMAP settings as stored by the API (password sealed); None if unset."""
        settings = mailbox.get("settings") or {}
        imap = settings.get("imap")
        if not imap:
            return None
        return cls(
            host=imap["host"],
            port=int(imap["port"]),
            tls=imap["tls"],
            username=imap["username"],
            password=box.open(imap["password"]),
            ca_file=imap.get("ca_file"),
            folders=tuple(imap.get("folders") or ("INBOX",)),
            poll_seconds=float(imap.get("poll_seconds", 30)),
            allow_plaintext=bool(settings.get("allow_plaintext")),
        )

    def tls_context(self) -> ssl.SSLContext:
        """Certificates and host names verified; the mailbox's CA file replaces the system's."""
        context = ssl.create_default_context(cafile=self.ca_file)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context


@dataclass(frozen=True)
class FolderState:
    name: str
    uidvalidity: int
    uidnext: int | None


@dataclass(frozen=True)
class RawMessage:
    uid: int
    raw: bytes
    internaldate: datetime


class ImapMailbox:
    """A connection to one mailbox. Not thread-safe: one owner thread."""

    def __init__(self, settings: ImapSettings, *, timeout: float = 30.0) -> None:
        self.settings, self.timeout = settings, timeout
        self._client: IMAPClient | None = None

    @property
    def client(self) -> IMAPClient:
        if self._client is None:
            raise ImapFailure("not connected")
        return self._client

    def connect(self) -> None:
        settings = self.settings
        if settings.tls == "none" and not settings.allow_plaintext:
            raise ImapFailure("plaintext IMAP is not allowed for this mailbox")
        with _translated():
            client = IMAPClient(
                settings.host,
                settings.port,
                ssl=settings.tls == "implicit",
                ssl_context=settings.tls_context() if settings.tls == "implicit" else None,
                timeout=self.timeout,
            )
            self._client = client
            client.normalise_times = False  # keep INTERNALDATE's zone: it is the arrival time
            if settings.tls == "starttls":
                client.starttls(settings.tls_context())
            client.login(settings.username, settings.password)

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                client.logout()
            except (imaplib.IMAP4.error, OSError):
                with suppress(OSError):
                    client.shutdown()

    def select(self, folder: str) -> FolderState:
        with _translated():
            info = self.client.select_folder(folder)
        uidnext = info.get(b"UIDNEXT")
        return FolderState(
            folder, int(info[b"UIDVALIDITY"]), None if uidnext is None else int(uidnext)
        )

    def new_uids(self, after: int) -> list[tuple[int, int]]:
        """(UID, size) of the messages above `after`, in UID order."""
        with _translated():
            # `n:*` also names the last message when n is above every UID: filter
            uids = sorted(
                uid for uid in self.client.search(["UID", f"{after + 1}:*"]) if uid > after
            )
            found: list[tuple[int, int]] = []
            for start in range(0, len(uids), SIZES_PER_FETCH):
                sizes = self.client.fetch(uids[start : start + SIZES_PER_FETCH], ["RFC822.SIZE"])
                found += ((uid, int(sizes[uid].get(b"RFC822.SIZE", 0))) for uid in sorted(sizes))
        return found

    def chunks(self, after: int, *, count: int, size: int) -> Iterator[list[RawMessage]]:
        """Messages above UID `after`, fetched `count` at a time and about `size` bytes at most
        (a larger message comes alone)."""
        batch: list[int] = []
        batch_bytes = 0
        for uid, message_size in self.new_uids(after):
            if batch and (len(batch) >= count or batch_bytes + message_size > size):
                yield self.fetch(batch)
                batch, batch_bytes = [], 0
            batch.append(uid)
            batch_bytes += message_size
        if batch:
            yield self.fetch(batch)

    def fetch(self, uids: Sequence[int]) -> list[RawMessage]:
        with _translated():
            found = self.client.fetch(list(uids), ["BODY.PEEK[]", "INTERNALDATE"])
        messages = []
        for uid in sorted(found):
            data = found[uid]
            raw = data.get(b"BODY[]")
            if raw is None:  # expunged meanwhile
                continue
            messages.append(RawMessage(uid, bytes(raw), _utc(data.get(b"INTERNALDATE"))))
        return messages

    def mark_seen(self, uids: Sequence[int]) -> None:
        """A courtesy to people reading the mailbox; never relied upon."""
        if uids:
            with _translated():
                self.client.add_flags(list(uids), [SEEN], silent=True)

    def noop(self) -> None:
        with _translated():
            self.client.noop()

    @property
    def can_idle(self) -> bool:
        return bool(self.client.has_capability("IDLE"))

    def wait_for_news(self, seconds: float, stopping: threading.Event) -> bool:
        """IDLE up to `seconds`; True when the server announced new mail."""
        deadline = monotonic() + seconds
        with _translated():
            self.client.idle()
            try:
                while not stopping.is_set() and (left := deadline - monotonic()) > 0:
                    responses = self.client.idle_check(timeout=min(IDLE_STEP, left))
                    if any(len(r) > 1 and r[1] in NEWS for r in responses):
                        return True
                return False
            finally:
                self.client.idle_done()


def _utc(value: object) -> datetime:
    if not isinstance(value, datetime):
        raise ImapFailure(f"the server sent no INTERNALDATE ({value!r})")
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)


@contextmanager
def _translated() -> Iterator[None]:
    """Library and socket errors as ImapFailure, so that callers handle one family."""
    try:
        yield
    except ImapFailure:
        raise
    except (LoginError, ssl.SSLCertVerificationError) as error:
        raise ImapRefused(f"{type(error).__name__}: {error}") from error
    except (imaplib.IMAP4.error, OSError, EOFError) as error:  # SSL and socket errors included
        raise ImapFailure(f"{type(error).__name__}: {error}") from error
