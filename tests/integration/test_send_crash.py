"""The `send` worker as its own process, killed with SIGKILL: never a lost reply, and at most
one duplicate per kill, carrying the same Message-ID and the same bytes."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from uuid import UUID

from eventsourcing.utils import get_topic

from api import sending
from api.schemas.interactions import ReplyIn
from domain.actors import Actor
from domain.interaction import Interaction
from tests.integration.conftest import Desk

ROOT = Path(__file__).resolve().parents[2]
CHILD = """
import os, signal
from api.settings import Settings
from api.workers import send
from domain.application import ContactCenter

kill_at = int(os.environ.get("KILL_AT_DELIVERY", "0"))
if kill_at:  # die after the server accepted the nth email, before its event is recorded
    record, calls = ContactCenter.record_delivery, []
    def record_delivery(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return record(self, *args, **kwargs)
    ContactCenter.record_delivery = record_delivery
send.main(Settings.from_env())
"""


def start_worker(desk: Desk, kill_at: int = 0) -> subprocess.Popen[str]:
    settings = desk.services.settings
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "INBOXFLOW_DATA_DIR": str(settings.data_dir),
        "INBOXFLOW_DATABASE_URL": settings.database_url or "",
        "INBOXFLOW_DATABASE_SCHEMA": settings.database_schema,
        "INBOXFLOW_LOG_LEVEL": "WARNING",
        "KILL_AT_DELIVERY": str(kill_at),
    }
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "send worker running"
    return child


def queue_replies(desk: Desk, interactions: int, each: int) -> list[str]:
    """Replies queued through the same code as the HTTP route, without the HTTP round trips."""
    agent = Actor("agent", UUID(desk.acme.agent_id("A")))
    records = []
    for _ in range(interactions):
        iid = UUID(desk.accepted())
        for n in range(each):
            body = ReplyIn(body_text=f"Reply {n}.")
            saved = sending.reply(desk.services, UUID(desk.acme.id), iid, body, agent)
            records.append(saved.aggregate.outbox[-1])
    return records


def sent_records(desk: Desk) -> list[str]:
    app, topic = desk.services.app, get_topic(Interaction.ReplySent)
    notifications = app.recorder.select_notifications(1, 100_000, topics=[topic])
    return [app.mapper.to_domain_event(n).record_id for n in notifications]


def wait_until_sent(desk: Desk, count: int, timeout: float = 30.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while len(sent := sent_records(desk)) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return sent


def test_killed_between_acceptance_and_the_event_one_duplicate_with_the_same_message_id(
    desk: Desk,
) -> None:
    records = queue_replies(desk, interactions=1, each=5)

    killed = start_worker(desk, kill_at=3)
    assert killed.wait(timeout=30) == -signal.SIGKILL
    assert len(desk.peer.delivered) == 3
    assert len(sent_records(desk)) == 2

    again = start_worker(desk)
    sent = wait_until_sent(desk, len(records))
    again.send_signal(signal.SIGTERM)
    assert again.wait(timeout=30) == 0  # SIGTERM: the email in hand finished, a clean exit

    assert sorted(sent) == sorted(records)
    copies = Counter(m.message_id for m in desk.peer.delivered)
    assert sorted(copies.values()) == [1, 1, 1, 1, 2]
    [twice] = [message_id for message_id, count in copies.items() if count == 2]
    assert len({m.data for m in desk.peer.delivered if m.message_id == twice}) == 1  # same bytes


def test_200_sends_with_random_kills_lose_nothing(desk: Desk) -> None:
    rng = random.Random(4)
    records = queue_replies(desk, interactions=20, each=10)
    desk.peer.script.data_delay = 0.004  # about a second of sending in all
    kills = 0
    while kills < 10 and len(sent_records(desk)) < len(records):
        worker = start_worker(desk)
        time.sleep(rng.uniform(0.05, 0.25))
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        kills += 1

    final = start_worker(desk)
    sent = wait_until_sent(desk, len(records))
    final.send_signal(signal.SIGTERM)
    assert final.wait(timeout=30) == 0

    assert sorted(sent) == sorted(records)  # every reply recorded sent, once
    copies = Counter(m.message_id for m in desk.peer.delivered)
    assert len(copies) == len(records)  # 0 lost
    duplicates = sum(count - 1 for count in copies.values())
    # each kill resends at most the one email in hand; on a slow machine two kills can both
    # land while the same email is in hand, so the bound is per kill, not per email
    assert duplicates <= kills
    print(f"{kills} kills, {duplicates} duplicates, {len(desk.peer.delivered)} deliveries")
