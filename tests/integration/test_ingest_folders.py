"""What happens to a folder between two looks: recreated under a new UIDVALIDITY, read by a
person first, the server restarted mid-batch, the same mail in two places."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime
from uuid import uuid4

from api.settings import Settings
from domain.application.ingestion import Folder, Ingested
from tests.fakes import T0
from tests.integration.dovecot import Dovecot
from tests.integration.imap_stack import (
    ADMIN,
    FAST,
    ImapUser,
    Stack,
    eventually,
    new_user,
    open_stack,
    plain_email,
    start_dovecot,
)

pytest_plugins = ["tests.integration.conftest_imap"]
SEEN = b"\\Seen"


def message_ids(stack: Stack) -> Counter[str]:
    return Counter(e.message["rfc_message_id"] for e in stack.interactions())


def uidvalidity(server: Dovecot, user: ImapUser, folder: str) -> int:
    client = server.client(user.username)
    try:
        return int(client.folder_status(folder, [b"UIDVALIDITY"])[b"UIDVALIDITY"])
    finally:
        client.logout()


def test_a_recreated_folder_gives_only_its_new_messages(
    dovecot: Dovecot, imap_user: ImapUser, stack: Stack
) -> None:
    old = [plain_email(n) for n in range(50)]
    new = [plain_email(n) for n in range(50, 60)]
    dovecot.append(imap_user.username, old, "Support")
    mailbox_id = stack.add_mailbox(dovecot, imap_user, folders=("Support",))
    stack.start()
    eventually(lambda: len(stack.interactions()) == 50)
    stack.stop()
    before = uidvalidity(dovecot, imap_user, "Support")
    client = dovecot.client(imap_user.username)
    client.delete_folder("Support")
    client.logout()
    dovecot.append(imap_user.username, [*reversed(old), *new], "Support")  # new UIDs 1..60

    stack.start()

    eventually(lambda: len(stack.interactions()) == 60)
    time.sleep(0.3)  # a second look changes nothing
    assert set(message_ids(stack).values()) == {1}
    assert len(message_ids(stack)) == 60
    after = uidvalidity(dovecot, imap_user, "Support")
    assert after != before
    checkpoint = stack.services.app.checkpoint(Folder(stack.company_id, mailbox_id, "Support", 0))
    assert checkpoint is not None
    assert (checkpoint.uidvalidity, checkpoint.last_uid) == (after, 60)


def test_mail_already_read_by_someone_else_is_still_ingested_and_then_flagged(
    dovecot: Dovecot, imap_user: ImapUser, sqlite_stack: Stack
) -> None:
    dovecot.append(imap_user.username, [plain_email(1)], flags=[SEEN])
    dovecot.append(imap_user.username, [plain_email(2), plain_email(3)])
    person = dovecot.client(imap_user.username)
    person.select_folder("INBOX")
    person.add_flags([2], [SEEN])  # read before the worker's first look
    sqlite_stack.add_mailbox(dovecot, imap_user)

    sqlite_stack.start()

    eventually(lambda: len(sqlite_stack.interactions()) == 3)
    flags = eventually(
        lambda: (f := person.get_flags([1, 2, 3])) and all(SEEN in v for v in f.values()) and f
    )
    person.logout()
    assert len(flags) == 3


def test_the_same_mail_in_two_folders_and_two_mailboxes_is_one_interaction(
    dovecot: Dovecot, sqlite_stack: Stack
) -> None:
    first, second = new_user(dovecot), new_user(dovecot)
    mail = plain_email(1, to="support@acme.test, sales@acme.test")
    dovecot.append(first.username, [mail], "INBOX")
    dovecot.append(first.username, [mail], "Archive")
    dovecot.append(second.username, [mail])
    one = sqlite_stack.add_mailbox(dovecot, first, folders=("INBOX", "Archive"))
    two = sqlite_stack.add_mailbox(dovecot, second, address="sales@acme.test")

    sqlite_stack.start()

    eventually(lambda: sqlite_stack.status(one).get("ingested") == 2)
    eventually(lambda: sqlite_stack.status(two).get("ingested") == 1)
    assert len(sqlite_stack.interactions()) == 1


def test_a_server_restart_mid_batch_loses_nothing_and_resumes_within_two_polls(
    sqlite_storage: Settings,
) -> None:
    server = start_dovecot()
    stack = open_stack(sqlite_storage)
    poll = 2.0
    try:
        user = new_user(server)
        sent = [plain_email(n) for n in range(300)]
        server.deliver(user.username, ((raw, time.time() - 60) for raw in sent))
        mailbox_id = stack.add_mailbox(server, user, poll_seconds=poll)
        commits: list[tuple[float, int]] = []

        def slowly(_folder: Folder, done: Ingested) -> None:
            commits.append((time.monotonic(), done.last_uid))
            time.sleep(0.05)  # a batch that takes a while

        stack.start(replace(FAST, chunk_messages=10), on_committed=slowly)
        eventually(lambda: len(commits) >= 2, every=0.005)

        server.stop()
        down = len(commits)
        assert len(stack.interactions()) < 300  # stopped mid-batch
        time.sleep(1.0)
        server.start()
        back = time.monotonic()

        eventually(lambda: len(stack.interactions()) == 300)
        resumed = next(at for at, _ in commits[down:] if at > back)
        assert resumed - back < 2 * poll
        assert set(message_ids(stack).values()) == {1}
        assert stack.status(mailbox_id)["connected"] is True
        assert stack.status(mailbox_id)["last_error"] is not None  # the outage was reported
    finally:
        stack.stop()
        stack.services.close()
        server.close()


def test_routing_sees_the_internaldate_as_arrival_and_the_envelope_recipients(
    dovecot: Dovecot, imap_user: ImapUser, sqlite_stack: Stack
) -> None:
    """A Sunday-night rule on the envelope recipient: only the real arrival time matches it."""
    app, orders = sqlite_stack.services.app, uuid4()
    app.create_queue(orders, sqlite_stack.company_id, name="Orders", priority=1, by=ADMIN, at=T0)
    rule = {
        "id": "sunday-orders",
        "queue_id": str(orders),
        "conditions": [{"field": "to", "op": "equals", "value": "orders@acme.test"}],
        "window": {"days": ["sun"], "from": "22:00", "to": "23:00"},
    }
    app.replace_routing_rules(sqlite_stack.company_id, [rule], by=ADMIN, at=T0)
    arrived = datetime(2026, 3, 1, 22, 15, tzinfo=UTC)  # a Sunday
    raw = plain_email(1, Delivered_To="orders@acme.test", X_Original_To="support@acme.test")
    dovecot.append(imap_user.username, [raw], msg_time=arrived)
    sqlite_stack.add_mailbox(dovecot, imap_user)

    sqlite_stack.start()

    (received,) = eventually(sqlite_stack.interactions)
    interaction = app.interaction(received.originator_id)
    assert (received.timestamp, interaction.created_on) == (arrived, arrived)
    assert interaction.queue_id == orders


def test_mail_arriving_while_idle_is_fetched_at_once_not_at_the_next_poll(
    dovecot: Dovecot, imap_user: ImapUser, sqlite_stack: Stack
) -> None:
    mailbox_id = sqlite_stack.add_mailbox(dovecot, imap_user, poll_seconds=60)
    sqlite_stack.start()
    eventually(lambda: sqlite_stack.status(mailbox_id).get("connected"))
    time.sleep(0.3)  # caught up (nothing there) and idling

    started = time.monotonic()
    dovecot.append(imap_user.username, [plain_email(1)])

    eventually(lambda: len(sqlite_stack.interactions()) == 1, timeout=10)
    assert time.monotonic() - started < 5  # IDLE woke it; polling would wait a minute
