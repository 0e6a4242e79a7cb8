"""Leases for workers that scale out: PostgreSQL session-level advisory locks.

One dedicated connection per process (`LeaseSession`) holds every lease the process has. The
server ends a lease when that session ends, a killed process (SIGKILL) included: the other
processes, trying again every second or so, take over. A process learns that it lost its
leases (the connection broke) at its next check, at most `check_every` seconds later; the work
it guards must also be safe for that moment (projection pages are claimed on their tracking
row, ingestion chunks conflict on the mailbox checkpoint).

Keys are 64-bit hashes of (schema, kind, name), so deployments sharing a database apart by
schema do not meet. Members (`join`) are counted across processes with the two-key form of the
lock, whose first key is the kind.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
from time import monotonic
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo

log = logging.getLogger(__name__)

CHECK_EVERY = 1.0  # seconds a lease is trusted between checks of its session
MAX_MEMBER = 2**31 - 1

# A killed process's session ends at once (its socket closes). For a machine that vanishes,
# keepalives end it within about six seconds: the server-side ones (set per session) free its
# leases, the client-side ones make a query on a dead network fail instead of hanging.
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 3, "keepalives_interval": 1,
              "keepalives_count": 3}  # fmt: skip
SESSION_SETTINGS = (
    "SET tcp_keepalives_idle = 3",
    "SET tcp_keepalives_interval = 1",
    "SET tcp_keepalives_count = 3",
    "SET statement_timeout = '5s'",
)
HOLDER = """
SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND l.classid = %s::bigint::oid AND l.objid = %s::bigint::oid
"""
MEMBERS = """
SELECT count(*) FROM pg_locks
WHERE locktype = 'advisory' AND granted AND objsubid = 2
  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND classid = %s::bigint::oid
"""


def lease_key(schema: str, kind: str, name: str) -> int:
    """The lock key (a signed 64-bit integer) of one lease."""
    digest = hashlib.blake2b(f"inboxflow/{schema}/{kind}/{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def kind_key(schema: str, kind: str) -> int:
    """The first key (a positive 31-bit integer) of the members of one kind."""
    digest = hashlib.blake2b(f"inboxflow/{schema}/{kind}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") & MAX_MEMBER


class LeaseSession:
    """The connection that holds this process's leases; reconnects after losing them."""

    def __init__(
        self,
        conninfo: str,
        *,
        schema: str,
        owner: str,
        check_every: float = CHECK_EVERY,
        connect_timeout: int = 5,
    ) -> None:
        self.conninfo, self.schema, self.owner = conninfo, schema, owner
        self.check_every, self.connect_timeout = check_every, connect_timeout
        self.generation = 0  # one per connection: a lease is valid for the one it was taken on
        self._conn: psycopg.Connection[Any] | None = None
        self._checked_at = 0.0
        self._lock = threading.RLock()
        self._leases: dict[int, Lease] = {}

    def lease(self, kind: str, name: str) -> Lease:
        """The lease of that name; one object per name, as the server counts a session's
        locks of one key (two acquisitions would need two releases)."""
        key = lease_key(self.schema, kind, name)
        with self._lock:
            return self._leases.setdefault(key, Lease(self, kind, name, key))

    def alive(self) -> bool:
        """The session is up, checked with the server at most every `check_every` seconds."""
        with self._lock:
            if self._conn is None:
                return False
            if monotonic() - self._checked_at < self.check_every:
                return True
            try:
                self._conn.execute("SELECT 1")
            except psycopg.Error as error:
                self._lost(error)
                return False
            self._checked_at = monotonic()
            return True

    def query(self, statement: str, *params: Any) -> Any:
        """One statement on the session (connecting first if needed); its first value."""
        with self._lock:
            conn = self._connected()
            try:
                row = conn.execute(statement, params).fetchone()
            except psycopg.OperationalError as error:
                self._lost(error)
                raise
            self._checked_at = monotonic()
            return None if row is None else row[0]

    def holder(self, kind: str, name: str) -> str | None:
        """The `owner` of the session holding this lease, if any (for operators and tests)."""
        key = lease_key(self.schema, kind, name)
        high, low = (key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF
        found: str | None = self.query(HOLDER, high, low)
        return found

    def members(self, kind: str) -> int:
        """How many sessions, on any process, have joined `kind`."""
        return int(self.query(MEMBERS, kind_key(self.schema, kind)))

    def join(self, kind: str) -> Membership:
        return Membership(self, kind)

    def _connected(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            conninfo = make_conninfo(
                self.conninfo,
                connect_timeout=self.connect_timeout,
                application_name=self.owner[:63],
                **KEEPALIVES,
            )
            conn = psycopg.connect(conninfo, autocommit=True)
            for statement in SESSION_SETTINGS:
                conn.execute(statement)
            self._conn, self.generation = conn, self.generation + 1
        return self._conn

    def _lost(self, error: BaseException) -> None:
        log.warning(
            "lease session lost (%s): every lease of this process ends",
            error,
            extra={"event": "leases_lost", "owner": self.owner},
        )
        self.close()

    def close(self) -> None:
        """Ends the session, and with it every lease it held."""
        with self._lock:
            if self._conn is not None:
                try:
                    self._conn.close()
                finally:
                    self._conn = None


class Lease:
    """One advisory lock of a `LeaseSession`: held by at most one session at a time."""

    def __init__(self, session: LeaseSession, kind: str, name: str, key: int) -> None:
        self.session, self.kind, self.name, self.key = session, kind, name, key
        self._generation = -1  # the session generation it was taken on; -1 while not held

    @property
    def held(self) -> bool:
        return self._generation == self.session.generation and self.session.alive()

    def acquire(self) -> bool:
        """Takes the lease if it is free; False if another session holds it or the database
        cannot be reached (try again later)."""
        if self.held:
            return True
        try:
            got = bool(self.session.query("SELECT pg_try_advisory_lock(%s)", self.key))
        except psycopg.Error as error:
            log.warning("lease %s/%s: %s", self.kind, self.name, error)
            return False
        if got:
            self._generation = self.session.generation
        return got

    def release(self) -> None:
        if self.held:
            try:
                self.session.query("SELECT pg_advisory_unlock(%s)", self.key)
            except psycopg.Error as error:  # the session is gone, and the lease with it
                log.warning("releasing lease %s/%s: %s", self.kind, self.name, error)
        self._generation = -1


class Membership:
    """This session counted among the members of a kind (e.g. the live ingest workers)."""

    def __init__(self, session: LeaseSession, kind: str) -> None:
        self.session, self.kind = session, kind
        self._key = kind_key(session.schema, kind)
        self._member: int | None = None
        self._generation = -1

    @property
    def held(self) -> bool:
        return self._generation == self.session.generation and self.session.alive()

    def acquire(self) -> bool:
        if self.held:
            return True
        for _ in range(5):  # a random member number; another process may have drawn it
            member = random.randint(1, MAX_MEMBER)
            try:
                got = self.session.query(
                    "SELECT pg_try_advisory_lock(%s::int, %s::int)", self._key, member
                )
            except psycopg.Error as error:
                log.warning("joining %s: %s", self.kind, error)
                return False
            if got:
                self._member, self._generation = member, self.session.generation
                return True
        return False

    @property
    def member(self) -> int | None:
        return self._member if self.held else None
