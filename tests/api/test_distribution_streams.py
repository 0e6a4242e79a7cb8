"""Agents' event streams across API processes: two uvicorn processes share PostgreSQL and
Redis; this process runs the workers (projections, dispatcher, publisher) on the real clock.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from uuid import UUID, uuid4

import httpx
import psycopg
import pytest

from api.bootstrap import Services, build
from api.distribution import Distribution
from api.settings import Settings
from domain.actors import Actor
from domain.application import ContactCenter
from domain.errors import DomainError
from domain.messages import InboundEmail
from tests.api.conftest import OPERATOR_TOKEN
from tests.api.distribution_env import (
    Stream,
    distributed_app,
    migrate_all,
    redis_url,
    serve,
)
from tests.api.scenario import Company, company, ok, received_interaction

TTL, HEARTBEAT = 1.0, 0.3


@dataclass
class Cluster:
    urls: list[str]
    services: Services
    distribution: Distribution

    def client(self, n: int) -> httpx.Client:
        return httpx.Client(base_url=self.urls[n], timeout=10)

    def stream(self, n: int, path: str, token: dict[str, str]) -> Stream:
        return Stream(f"{self.urls[n]}{path}", token)


@pytest.fixture(scope="module")
def cluster(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    schema = f"t_{uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    data = tmp_path_factory.mktemp("streams")
    settings = Settings(
        data_dir=data / "var",
        admin_token=OPERATOR_TOKEN,
        database_url=postgres_url,
        database_schema=schema,
        redis_url=redis_url(),
    )
    migrate_all(settings)
    env = {k: v for k, v in os.environ.items() if not k.startswith("INBOXFLOW_")}
    env.update({f"INBOXFLOW_{k.upper()}": str(v) for k, v in settings.model_dump().items() if v})
    env.update(INBOXFLOW_RUN_WORKERS="false", INBOXFLOW_TEST_PRESENCE_TTL=str(TTL))
    env.update(INBOXFLOW_TEST_HEARTBEAT=str(HEARTBEAT))
    servers = [serve(env, data / f"api{n}.log") for n in (1, 2)]
    services = build(settings)  # this process: the workers, on the real clock
    _, distribution = distributed_app(services)
    distribution.presence.ttl = TTL
    distribution.dispatcher.idle_poll, distribution.dispatcher.timer_every = 0.05, 0.1
    distribution.start()
    try:
        yield Cluster([url for url, _ in servers], services, distribution)
    finally:
        distribution.close()
        services.close()
        for _, process in servers:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def log_in(client: httpx.Client, acme: Company, name: str) -> None:
    ok(client.post(f"/v1/agents/{acme.agent_id(name)}/login", headers=acme.token(name)))


def email_to(client: httpx.Client, beta: Company, sender: str) -> str:
    """An email from a new sender each time: no sticky sender in this test."""
    mail = {"to": "support@beta.test", "sender": f"{sender}@customer.test"}
    return received_interaction(client, beta, **mail)  # type: ignore[arg-type]


def events_path(acme: Company, name: str) -> str:
    return f"/v1/agents/{acme.agent_id(name)}/events"


def test_offers_and_taken_reach_agents_on_two_api_processes_within_a_second(
    cluster: Cluster,
) -> None:
    one, two = cluster.client(0), cluster.client(1)
    acme = company(one, "Acme")  # type: ignore[arg-type]
    a = cluster.stream(0, events_path(acme, "A"), acme.token("A"))
    b = cluster.stream(1, events_path(acme, "B"), acme.token("B"))
    log_in(one, acme, "A")
    log_in(two, acme, "B")

    posted = time.monotonic()
    email = received_interaction(one, acme)  # type: ignore[arg-type]
    offered_to_a = a.wait_for("offered", email)
    rejected = time.monotonic()
    ok(one.post(f"/v1/interactions/{email}/reject", headers=acme.token("A")))
    offered_to_b = b.wait_for("offered", email)
    accepted = time.monotonic()
    ok(two.post(f"/v1/interactions/{email}/accept", headers=acme.token("B")))
    taken = a.wait_for("taken", email)
    a.close()
    b.close()

    latencies = [offered_to_a - posted, offered_to_b - rejected, taken - accepted]
    shown = ", ".join(f"{s * 1000:.0f} ms" for s in latencies)
    print(f"\nstream latencies (offered, re-offered, taken): {shown}")
    assert max(latencies) < 1.0
    assert a.wait_for("offer_withdrawn", email) > rejected


def test_a_dropped_connection_withdraws_the_agents_offers_and_keeps_their_work(
    cluster: Cluster,
) -> None:
    one, two = cluster.client(0), cluster.client(1)
    beta = company(one, "Beta", domain="beta.test")  # type: ignore[arg-type]
    c = cluster.stream(0, events_path(beta, "A"), beta.token("A"))
    d = cluster.stream(1, events_path(beta, "B"), beta.token("B"))
    log_in(one, beta, "A")
    log_in(two, beta, "B")
    owned = email_to(one, beta, "owned")
    c.wait_for("offered", owned)
    ok(one.post(f"/v1/interactions/{owned}/accept", headers=beta.token("A")))
    busy = email_to(one, beta, "busy")
    d.wait_for("offered", busy)
    ok(two.post(f"/v1/interactions/{busy}/accept", headers=beta.token("B")))
    pending = email_to(one, beta, "pending")
    c.wait_for("offered", pending)

    dropped = time.monotonic()
    c.close()
    reoffered = d.wait_for("offered", pending, timeout=TTL + 3)
    d.close()

    print(f"\noffer withdrawn and re-offered {reoffered - dropped:.2f} s after the drop")
    assert reoffered - dropped < TTL + 1.0  # the TTL, plus one dispatch cycle and some slack
    view = ok(one.get(f"/v1/interactions/{owned}", headers=beta.token("supervisor")))
    assert view["owner"] == beta.agent_id("A")  # still A's
    agent = ok(one.get(f"/v1/agents/{beta.agent_id('A')}", headers=beta.token("supervisor")))
    assert (agent["logged_in"], agent["held"]) == (False, [owned])


def test_no_message_reaches_another_companys_stream(cluster: Cluster) -> None:
    one = cluster.client(0)
    domains = {"Gamma": "gamma.test", "Delta": "delta.test"}
    companies = [company(one, n, domain=d) for n, d in domains.items()]  # type: ignore[arg-type]
    streams: list[tuple[Company, Stream]] = []
    for n, acme in enumerate(companies):
        for name in ("A", "B"):
            streams.append((acme, cluster.stream(n, events_path(acme, name), acme.token(name))))
            log_in(one, acme, name)
        queue = f"/v1/queues/{acme.queues['General']}/events"
        streams.append((acme, cluster.stream(1 - n, queue, acme.token("supervisor"))))
    ids: dict[str, set[str]] = {acme.id: set() for acme in companies}

    workers = [
        threading.Thread(
            target=work, args=(cluster.services, acme, f"support@{domain}", ids[acme.id], seed)
        )
        for seed, (acme, domain) in enumerate(zip(companies, domains.values(), strict=True))
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    time.sleep(0.5)
    for _, stream in streams:
        stream.close()

    received = [(acme, data) for acme, stream in streams for _, _, data in stream.events]
    print(f"\n{len(received)} messages on {len(streams)} streams")
    assert len(received) >= 1000
    for acme, data in received:
        assert data["company_id"] == acme.id
        assert data.get("interaction_id") in ids[acme.id] | {None}


def work(services: Services, acme: Company, mailbox: str, ids: set[str], seed: int) -> None:
    """A stream of email to one company: offered, sometimes rejected, taken, closed."""
    app, rng, company_id = services.app, random.Random(seed), UUID(acme.id)
    for n in range(110):
        email = InboundEmail(
            rfc_message_id=f"<{n}.{uuid4()}@customer.test>",
            sender=f"c{rng.randrange(20)}@customer.test",
            to=(mailbox,),
            subject=f"Question {n}",
        )
        now = services.clock()
        delivery = app.receive_email(
            company_id, email, recipient=None, arrived_at=now, at=now, find_by_ref=lambda c, r: None
        )
        ids.add(str(delivery.interaction_id))
        offered = partial(offered_to, app, delivery.interaction_id)
        actor = Actor("agent", until(offered))
        if rng.random() < 0.2:
            app.reject(delivery.interaction_id, scope=company_id, by=actor, at=services.clock())
            actor = Actor("agent", until(offered))
        app.accept(delivery.interaction_id, scope=company_id, by=actor, at=services.clock())
        app.close_interaction(
            delivery.interaction_id, [], scope=company_id, by=actor, at=services.clock()
        )


def offered_to(app: ContactCenter, interaction_id: UUID) -> UUID | None:
    return app.interaction(interaction_id).offered_to


def until(find: Callable[[], UUID | None], timeout: float = 5.0) -> UUID:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            found = find()
        except DomainError:
            found = None
        if found is not None:
            return found
        time.sleep(0.005)
    raise AssertionError("no offer was made in time")
