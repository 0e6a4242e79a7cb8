"""The per-company open limit while mail keeps arriving: never exceeded at any log position,
fetching pauses at the limit and resumes below it, and every email arrives with its IMAP time."""

from __future__ import annotations

import random
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from eventsourcing.utils import get_topic

from api.settings import Settings
from domain.actors import Actor
from domain.ids import quota_id
from domain.quota import CompanyQuota
from tests.integration.dovecot import Dovecot
from tests.integration.imap_stack import FAST, ImapUser, eventually, open_stack, plain_email

pytest_plugins = ["tests.integration.conftest_imap"]
LIMIT, MESSAGES = 5, 200
SUPERVISOR = Actor("supervisor", None)


def quota_counts(app: object, company_id: object) -> list[tuple[str, int]]:
    """(event name, open count) of the company's quota, in log order."""
    topics = [get_topic(CompanyQuota.Reserved), get_topic(CompanyQuota.Released)]
    notifications = app.recorder.select_notifications(1, 100_000, topics=topics)  # type: ignore[attr-defined]
    wanted = quota_id(company_id)  # type: ignore[arg-type]
    events = [app.mapper.to_domain_event(n) for n in notifications if n.originator_id == wanted]  # type: ignore[attr-defined]
    return [(type(e).__name__, e.open_count) for e in events]


def test_the_limit_holds_at_every_position_and_all_mail_arrives_in_the_end(
    dovecot: Dovecot, imap_user: ImapUser, storage: Settings
) -> None:
    stack = open_stack(storage, open_limit=LIMIT)
    first = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    arrivals = [first + timedelta(minutes=n) for n in range(MESSAGES)]
    dovecot.deliver(
        imap_user.username,
        ((plain_email(n), at.timestamp()) for n, at in enumerate(arrivals)),
    )
    mailbox_id = stack.add_mailbox(dovecot, imap_user)
    rng, closed, paused_seen = random.Random(5), set(), 0
    app = stack.services.app
    try:
        stack.start(replace(FAST, chunk_messages=20))
        deadline = time.monotonic() + 90
        while len(closed) < MESSAGES and time.monotonic() < deadline:
            paused_seen += bool(stack.status(mailbox_id).get("paused_by_limit"))
            open_ids = [e.originator_id for e in stack.interactions()]
            open_ids = [i for i in open_ids if i not in closed]
            for interaction_id in rng.sample(open_ids, k=rng.randint(0, len(open_ids))):
                app.close_interaction(
                    interaction_id, [], scope=stack.company_id, by=SUPERVISOR, at=datetime.now(UTC)
                )
                closed.add(interaction_id)
            time.sleep(rng.uniform(0, 0.05))
        received = stack.interactions()
        counts = quota_counts(app, stack.company_id)
        limits = stack.services.read.company_limits
        history = eventually(lambda: (h := limits.history(stack.company_id))[1:] and h)
    finally:
        stack.stop()
        stack.services.close()

    assert len(received) == MESSAGES
    assert sorted(e.timestamp for e in received) == arrivals  # IMAP INTERNALDATE, not fetch time
    assert max(count for _, count in counts) == LIMIT
    running = 0
    for name, count in counts:  # folding the quota's events: +1 reserved, -1 released
        running += 1 if name == "Reserved" else -1
        assert count == running <= LIMIT
    assert paused_seen > 0  # the mailbox's status said "paused by limit" at some point
    assert [row["paused"] for row in history[:2]] == [True, False]  # paused, then resumed
