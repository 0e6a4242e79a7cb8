"""Two `inboxflow dispatch` processes on PostgreSQL over one backlog: every email offered,
none offered twice, and both workers stop cleanly on SIGTERM.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID, uuid4

import redis

from adapters.persistence import PostgresTarget
from adapters.presence import RedisPresence
from api.settings import Settings
from domain.actors import OPERATOR, Actor
from domain.application import ContactCenter
from domain.errors import DomainError
from domain.interaction import Interaction
from domain.messages import InboundEmail
from tests.api.distribution_env import migrate_all
from tests.conftest import TEST_DATABASE_URL, service_missing

ROOT = Path(__file__).resolve().parents[2]
EMAILS, AGENTS = 150, 10
WORKER = (
    "from api.settings import Settings; from api.workers.dispatch import main; "
    "main(Settings.from_env())"
)


def now() -> datetime:
    return datetime.now(UTC)


def redis_url() -> str:
    url = os.environ.get("INBOXFLOW_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as error:
        service_missing("Redis", error)
    return url


def backlog(app: ContactCenter) -> tuple[UUID, list[UUID], list[UUID]]:
    """A company with agents logged in, and EMAILS waiting in one queue."""
    company, queue, admin = uuid4(), uuid4(), Actor("admin", uuid4())
    app.create_company(
        company, name="Acme", timezone="UTC", open_limit=10**5, by=OPERATOR, at=now()
    )
    app.create_queue(queue, company, name="General", priority=1, by=admin, at=now())
    app.add_mailbox(
        company, uuid4(), address="in@acme.test", default_queue_id=queue, by=admin, at=now()
    )
    agents = [uuid4() for _ in range(AGENTS)]
    for n, agent in enumerate(agents):
        app.register_user(
            agent,
            company,
            name=f"a{n}",
            email=f"a{n}@acme.test",
            role="agent",
            queue_ids=[queue],
            capacity=3,
            token_hash=str(uuid4()),
            by=admin,
            at=now(),
        )
        app.log_in(agent, scope=company, by=Actor("agent", agent), at=now())
    emails = []
    for n in range(EMAILS):
        email = InboundEmail(
            rfc_message_id=f"<{n}@c.test>",
            sender=f"c{n}@c.test",
            to=("in@acme.test",),
            subject=f"#{n}",
        )
        emails.append(
            app.receive_email(
                company,
                email,
                recipient=None,
                arrived_at=now(),
                at=now(),
                find_by_ref=lambda c, r: None,
            ).interaction_id
        )
    return company, agents, emails


def test_two_dispatch_workers_offer_every_email_once(
    pg_schema: PostgresTarget, tmp_path: Path
) -> None:
    settings = Settings(
        data_dir=tmp_path / "var",
        database_url=TEST_DATABASE_URL,
        database_schema=pg_schema.schema,
        redis_url=redis_url(),
    )
    migrate_all(settings)
    app = ContactCenter(env=settings.persistence().application_env())
    presence = RedisPresence(redis_url(), ttl=30)
    company, agents, emails = backlog(app)
    env = {k: v for k, v in os.environ.items() if not k.startswith("INBOXFLOW_")}
    env.update({f"INBOXFLOW_{k.upper()}": str(v) for k, v in settings.model_dump().items() if v})
    logs = [tmp_path / f"worker{n}.log" for n in (1, 2)]
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER],
            env=env,
            cwd=ROOT,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        for log in logs
    ]
    closed: set[UUID] = set()
    try:
        deadline = time.monotonic() + 60
        while len(closed) < EMAILS and time.monotonic() < deadline:
            for agent in agents:  # each agent takes what they are offered and finishes it
                presence.beat(company, agent)
                offer = app.agent(agent).offer
                if offer is None or offer in closed:
                    continue
                actor = Actor("agent", agent)
                try:
                    app.accept(offer, scope=company, by=actor, at=now())
                    app.close_interaction(offer, [], scope=company, by=actor, at=now())
                except DomainError:
                    continue
                closed.add(offer)
            time.sleep(0.01)
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        codes = [worker.wait(15) for worker in workers]
    assert codes == [0, 0], [log.read_text() for log in logs]

    offers: Counter[UUID] = Counter()
    workers_seen: Counter[str] = Counter()
    offered_to: dict[UUID, UUID | None] = {}
    for notification in app.recorder.select_notifications(start=1, limit=100_000):
        event = app.mapper.to_domain_event(notification)
        if isinstance(event, Interaction.Offered):
            assert offered_to.get(event.originator_id) is None, "offered twice at once"
            offered_to[event.originator_id] = event.agent_id
            offers[event.originator_id] += 1
            workers_seen[event.reason["dispatcher"]] += 1
        elif isinstance(
            event, Interaction.Accepted | Interaction.OfferExpired | Interaction.OfferRejected
        ):
            offered_to[event.originator_id] = None
    print(
        f"\n{sum(offers.values())} offers for {len(offers)} emails; by worker: {dict(workers_seen)}"
    )
    assert closed == set(emails)  # 0 lost: every email was offered, taken and closed
    assert set(offers.values()) == {1}  # 0 double offers
    assert len(workers_seen) == 2
    app.close()
    presence.close()
