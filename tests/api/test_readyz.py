"""/readyz on both backends: ready, then 503 naming the failing check when a projection stopped
or lags, when the database does not answer, and when the configured Redis is unreachable."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.bootstrap import Services, build
from api.cli import migrate
from api.settings import Settings
from projections.registry import PROJECTION_NAMES
from tests.api.distribution_env import free_port, redis_url
from tests.api.scenario import company, received_interaction
from tests.fakes import FixedClock

MAX_LAG = 3


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"ready_max_lag": MAX_LAG})


def services_of(client: TestClient) -> Services:
    services: Services = client.app.state.services  # type: ignore[attr-defined]
    return services


def not_ready(client: TestClient) -> dict[str, Any]:
    answer = client.get("/readyz")
    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = answer.json()
    assert body["type"] == "/problems/not-ready"
    assert body["failing"] == [name for name, c in body["checks"].items() if not c["ok"]]
    return body


@contextmanager
def app_with(settings: Settings, clock: FixedClock) -> Iterator[TestClient]:
    if settings.database_url:
        migrate(settings)
    with TestClient(create_app(build(settings, clock=clock))) as client:
        yield client


def test_a_fresh_service_is_ready(client: TestClient) -> None:
    company(client)
    services = services_of(client)
    assert services.read.wait(services.app.recorder.max_notification_id() or 0, timeout=10)
    answer = client.get("/readyz")
    assert answer.status_code == 200, answer.text
    checks = answer.json()["checks"]
    assert set(checks) == {"database", "projections"}  # no Redis configured
    assert checks["database"]["head"] > 0
    assert set(checks["projections"]["lag"]) == set(PROJECTION_NAMES)
    assert checks["projections"]["max_lag"] == MAX_LAG


def test_a_projection_stopped_on_an_error_makes_it_not_ready(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    acme = company(client)
    runner = services_of(client).read.runners["timeline"]

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("a handler bug")

    monkeypatch.setattr(runner.projection, "apply", broken)
    received_interaction(client, acme)
    deadline = time.monotonic() + 10
    while runner.error is None and time.monotonic() < deadline:
        time.sleep(0.02)
    body = not_ready(client)
    assert body["failing"] == ["projections"]
    assert body["checks"]["projections"]["stopped"] == {"timeline": "stopped on an error"}
    assert "a handler bug" not in str(body)  # the reason is in the log, not on a public page


def test_a_projection_lagging_beyond_the_threshold_makes_it_not_ready(
    client: TestClient,
) -> None:
    acme = company(client)
    services = services_of(client)
    runner = services.read.runners["agent_inbox"]
    runner.stop()  # as if its process were far behind
    for _ in range(2):
        received_interaction(client, acme)
    head = services.app.recorder.max_notification_id() or 0
    assert all(r.wait(head) for r in services.read.runners.values() if r is not runner)
    body = not_ready(client)
    lagging = body["checks"]["projections"]["lagging"]
    assert list(lagging) == ["agent_inbox"]
    assert lagging["agent_inbox"] > MAX_LAG
    assert "stopped" not in body["checks"]["projections"]
    runner.start()
    deadline = time.monotonic() + 10
    while client.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, "it did not become ready once caught up"
        time.sleep(0.05)


def test_a_database_that_does_not_answer_in_time_makes_it_not_ready(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = services_of(client).app.recorder
    monkeypatch.setattr(recorder, "max_notification_id", lambda: time.sleep(2.5))
    started = time.monotonic()
    body = not_ready(client)
    assert time.monotonic() - started < 2.4
    assert body["checks"]["database"] == {"ok": False, "error": "no answer within 2 s"}
    assert body["checks"]["projections"]["ok"] is False  # not checked without the database
    assert body["failing"] == ["database", "projections"]


def test_an_unreachable_redis_makes_it_not_ready(settings: Settings, clock: FixedClock) -> None:
    closed = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    with app_with(closed, clock) as client:
        body = not_ready(client)
    assert body["failing"] == ["redis"]
    assert body["checks"]["redis"] == {"ok": False, "error": "ConnectionError"}
    assert body["checks"]["database"]["ok"] is True


def test_a_reachable_redis_is_checked(settings: Settings, clock: FixedClock) -> None:
    with app_with(settings.model_copy(update={"redis_url": redis_url()}), clock) as client:
        answer = client.get("/readyz")
    assert answer.status_code == 200, answer.text
    assert answer.json()["checks"]["redis"] == {"ok": True}
