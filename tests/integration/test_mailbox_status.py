"""The mailbox status table on SQLite and PostgreSQL: partial updates, counters, booleans."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

import pytest

from adapters.mailbox_status import MailboxStatusStore
from adapters.persistence import Persistence
from tests.fakes import T0


def test_each_update_changes_only_the_fields_it_names(persistence: Persistence) -> None:
    store = MailboxStatusStore.open(persistence)
    mailbox, company = uuid4(), uuid4()
    try:
        assert store.get(mailbox) is None
        store.update(mailbox, company, at=T0, connected=True)
        store.update(mailbox, company, at=T0, last_error="boom", last_error_at=T0, failures=2)
        store.update(mailbox, company, at=T0, add_ingested=5, last_uid=5, last_fetch_at=T0)
        later = T0 + timedelta(seconds=1)
        store.update(mailbox, company, at=later, add_ingested=3, paused_by_limit=True)

        status = store.get(mailbox)
        assert status == {
            "connected": True,
            "last_fetch_at": "2026-03-02T09:00:00.000000Z",
            "last_error": "boom",
            "last_error_at": "2026-03-02T09:00:00.000000Z",
            "failures": 2,
            "next_attempt_at": None,
            "paused_by_limit": True,
            "last_uid": 5,
            "ingested": 8,
            "updated_at": "2026-03-02T09:00:01.000000Z",
        }
        with pytest.raises(ValueError, match="password"):
            store.update(mailbox, company, at=T0, password="x")
    finally:
        store.close()
