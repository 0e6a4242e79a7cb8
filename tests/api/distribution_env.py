"""The HTTP API with distribution installed, for distribution's scenario tests.

Built the way the composition root builds it, with presence and notifications in the real
Redis. The scenario tests drive the dispatcher one cycle at a time (`dispatch()`) on the fake
clock; the stream tests run API processes (`serve`) and read their event streams (`Stream`).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import redis
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from api.bootstrap import Services, build
from api.cli import migrate
from api.distribution import Distribution, build_distribution, install
from api.settings import Settings
from api.workers import dispatch as dispatch_worker
from api.workers.dispatch_cycle import Cycle
from tests.api.scenario import Company, ok
from tests.conftest import service_missing
from tests.fakes import FixedClock

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("INBOXFLOW_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def redis_url() -> str:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as error:
        service_missing("Redis", error)
    return REDIS_URL


def distributed_app(services: Services, **options: Any) -> tuple[FastAPI, Distribution]:
    """The API of `services` with distribution: the composition root's, once it has one."""
    found: Distribution | None = getattr(services, "distribution", None)
    app = create_app(services)
    if found is None:
        persistence = services.settings.persistence()
        found = build_distribution(
            services.settings,
            persistence,
            services.app,
            clock=services.clock,
            board=services.read.dispatch,
            shared_runner=services.read.runners["dispatch"],
            **options,
        )
        services.app.saved_listeners.append(lambda position: found.wake())
        install(app, found)
    return app, found


@dataclass
class Env:
    client: TestClient
    distribution: Distribution
    clock: FixedClock

    def dispatch(self) -> Cycle:
        """One dispatch cycle (timers, then offers), with every logged-in agent connected."""
        return self.distribution.dispatcher.run_once()

    def connected(self, acme: Company, *names: str) -> None:
        """These agents' event streams are open: their presence is fresh."""
        for name in names:
            self.distribution.presence.beat(acme.id, acme.agent_id(name))  # type: ignore[arg-type]

    def log_in(self, acme: Company, *names: str, connect: bool = True) -> None:
        """They log in a second apart; `connect`: and open their event streams."""
        for name in names:
            self.clock.advance(seconds=1)
            url = f"/v1/agents/{acme.agent_id(name)}/login"
            ok(self.client.post(url, headers=acme.token(name)))
        if connect:
            self.connected(acme, *names)

    def interaction(self, acme: Company, interaction_id: str) -> Any:
        return ok(self.client.get(f"/v1/interactions/{interaction_id}", headers=acme.token("A")))

    def offered_to(self, acme: Company, interaction_id: str) -> str | None:
        found: str | None = self.interaction(acme, interaction_id)["offered_to"]
        return found

    def timeline(self, acme: Company, interaction_id: str) -> list[tuple[str, str]]:
        """(type, actor) of every event of the interaction, read after everything so far."""
        head = self.distribution.dispatcher.app.recorder.max_notification_id() or 0
        body = ok(
            self.client.get(
                f"/v1/interactions/{interaction_id}/timeline",
                params={"min_position": head},
                headers=acme.token("A"),
            )
        )
        return [(entry["type"], entry["actor"]) for entry in body["entries"]]


def migrate_all(settings: Settings) -> None:
    """`inboxflow migrate`, with distribution's views (until `migrate` creates them itself)."""
    migrate(settings)
    dispatch_worker.migrate(settings)


def open_env(settings: Settings, clock: FixedClock) -> Iterator[Env]:
    """Yields the API with distribution on `settings` (plus the real Redis)."""
    settings = settings.model_copy(update={"redis_url": redis_url()})
    if settings.database_url:
        migrate_all(settings)
    services = build(settings, clock=clock)
    try:
        app, distribution = distributed_app(services)
    except BaseException:
        services.close()
        raise
    distribution.dispatcher.stop()  # if the composition root started it: cycles are ours
    try:
        with TestClient(app) as client:
            yield Env(client, distribution, clock)
    finally:
        services.close()
        distribution.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(env: dict[str, str], log: Path) -> tuple[str, subprocess.Popen[bytes]]:
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "--factory", "tests.api.distribution_app:create"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=out, stderr=out)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return base, process
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"no answer from {base}: {log.read_text()}")


class Stream:
    """An agent's or a queue's event stream, read in a thread: (when, type, data) as they come."""

    def __init__(self, url: str, token: dict[str, str]) -> None:
        self.url, self.token = url, token
        self.events: list[tuple[float, str, dict[str, Any]]] = []
        self.ready, self._stop = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        assert self.ready.wait(10), f"{url} never became ready"

    def _read(self) -> None:
        with contextlib.suppress(httpx.TransportError):  # the server went away: the stream ends
            self._lines()

    def _lines(self) -> None:
        kind = ""
        timeout = httpx.Timeout(10.0, read=5.0)
        with (
            httpx.Client(timeout=timeout) as client,
            client.stream("GET", self.url, headers=self.token) as response,
        ):
            assert response.status_code == 200, response.read()
            for line in response.iter_lines():
                if self._stop.is_set():
                    return
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: "):
                    self.events.append((time.monotonic(), kind, json.loads(line[6:])))
                    self.ready.set()

    def wait_for(self, kind: str, interaction_id: str, timeout: float = 3.0) -> float:
        """When the first event of this type about this interaction arrived."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for at, found, data in list(self.events):
                if found == kind and data.get("interaction_id") == interaction_id:
                    return at
            time.sleep(0.005)
        raise AssertionError(f"no {kind} for {interaction_id} on {self.url}: {self.events}")

    def close(self) -> None:
        """Drops the connection, as a closed laptop would."""
        self._stop.set()
        self._thread.join(5)
