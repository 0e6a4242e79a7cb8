"""Which mailboxes one of several `inboxflow ingest` processes takes (PostgreSQL).

Each mailbox is leased (`adapters.leases`) by at most one process at a time, and a process
takes at most its fair share, ⌈mailboxes / live ingest processes⌉; live processes are counted
by their membership lease. When a process dies its session ends, the count drops, and the
others take its mailboxes at their next pass (every second). When a process joins, the others
give back what exceeds the new share, each lease only once that mailbox's thread has ended.
The leases are for efficiency: two processes fetching one mailbox still record each message
once (the chunk conflicts on the mailbox's checkpoint).
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from math import ceil
from uuid import UUID

from adapters.leases import Lease, LeaseSession

MAILBOX = "ingest-mailbox"
WORKERS = "ingest-workers"


class MailboxShare:
    """The mailbox leases of this process."""

    def __init__(self, session: LeaseSession) -> None:
        self.session = session
        self.membership = session.join(WORKERS)
        self.leases: dict[UUID, Lease] = {}

    def assign(self, mailboxes: Collection[UUID], busy: Collection[UUID]) -> set[UUID]:
        """The mailboxes to ingest here now. `busy`: mailboxes whose thread is still alive
        here; their leases are kept until it ends, even when they are no longer ours."""
        if not self.membership.acquire():  # the database is unreachable: hold nothing
            self.leases.clear()
            return set()
        self.leases = {m: lease for m, lease in self.leases.items() if lease.held}
        share = ceil(len(mailboxes) / max(1, self.session.members(WORKERS)))
        mine = sorted(set(self.leases) & set(mailboxes), key=self._preference)[:share]
        for mailbox_id in set(self.leases) - set(mine) - set(busy):
            self.leases.pop(mailbox_id).release()
        for mailbox_id in sorted(set(mailboxes) - set(self.leases), key=self._preference):
            if len(mine) >= share:
                break
            lease = self.session.lease(MAILBOX, str(mailbox_id))
            if lease.acquire():
                self.leases[mailbox_id] = lease
                mine.append(mailbox_id)
        return set(mine)

    def _preference(self, mailbox_id: UUID) -> bytes:
        """Each process prefers other mailboxes (rendezvous order), so that processes starting
        together seldom reach for the same ones."""
        seed = f"{self.membership.member}/{mailbox_id}".encode()
        return hashlib.blake2b(seed, digest_size=8).digest()
