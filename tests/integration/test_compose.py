"""docker-compose.yml and the Dockerfile: their structure, and each service's command started
outside Docker with the service's environment (PostgreSQL and Redis on this machine, a fresh
schema): it announces `ready`, and exits 0 within ten seconds of SIGTERM."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.request import urlopen

import psycopg
import pytest
import redis
import yaml

from api.cli import build_parser
from api.settings import Settings
from tests.conftest import TEST_DATABASE_URL, service_missing
from tests.integration.cli_process import ROOT, STOP_WITHIN, CliProcess, base_environment, inboxflow
from tests.integration.dovecot import free_port

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
OURS = {name: s for name, s in SERVICES.items() if s.get("build")}
LONG_RUNNING = {name: s for name, s in SERVICES.items() if name != "migrate"}
SETTINGS = {f"INBOXFLOW_{field.upper()}" for field in Settings.model_fields}
REQUIRED = re.compile(r"\$\{(\w+):\?[^}]*\}")  # ${NAME:?message}: the operator must set it


def test_every_service_has_an_image_or_a_build() -> None:
    assert {"api", "migrate", "project", "ingest", "send", "dispatch", "postgres", "redis"} <= set(
        SERVICES
    )
    for name, service in SERVICES.items():
        assert service.get("image") or service.get("build"), name


def test_long_running_services_have_a_health_check_and_restart() -> None:
    for name, service in LONG_RUNNING.items():
        check = service.get("healthcheck", {})
        assert check.get("test"), f"{name} has no health check"
        assert service.get("restart") in ("always", "unless-stopped", "on-failure"), name
    assert SERVICES["migrate"].get("restart") == "no"


def test_each_worker_checks_its_own_heartbeat() -> None:
    for name in ("project", "ingest", "send", "dispatch"):
        worker = SERVICES[name]["command"][1]
        assert SERVICES[name]["healthcheck"]["test"] == ["CMD", "inboxflow", "healthcheck", worker]


def test_the_scaled_out_services_have_replicas() -> None:
    for name in ("project", "ingest", "dispatch"):
        assert SERVICES[name]["deploy"]["replicas"] >= 2, name
    assert "--workers" in SERVICES["api"]["command"]


def test_every_inboxflow_command_is_a_real_sub_command() -> None:
    parser = build_parser()
    commands = [s["command"] for s in OURS.values()]
    commands += [s["healthcheck"]["test"][1:] for s in OURS.values() if "healthcheck" in s]
    for command in commands:
        if command[0] != "inboxflow":
            continue
        try:
            parsed = parser.parse_args(command[1:])
        except SystemExit:
            pytest.fail(f"`{' '.join(command)}` is not a command of inboxflow")
        assert parsed.command == command[1]


def test_configuration_is_only_known_settings_in_the_environment() -> None:
    for name, service in OURS.items():
        assert "env_file" not in service, name
        environment = service.get("environment", {})
        assert isinstance(environment, dict), name
        unknown = set(environment) - SETTINGS
        assert not unknown, f"{name} sets {unknown}, which api/settings.py does not know"
        for value in environment.values():
            for required in REQUIRED.findall(str(value)):
                assert required in SETTINGS, f"{name} asks the operator for {required}"
    dockerfile_env = re.findall(r"(INBOXFLOW_\w+)=", (ROOT / "Dockerfile").read_text())
    assert dockerfile_env
    assert set(dockerfile_env) <= SETTINGS


def test_the_image_is_slim_and_runs_as_a_user_that_is_not_root() -> None:
    lines = [line.split() for line in (ROOT / "Dockerfile").read_text().splitlines() if line]
    base = next(words for words in lines if words[0] == "FROM")
    assert base[1].startswith("python:")
    assert base[1].endswith("-slim")
    users = [words[1] for words in lines if words[0] == "USER"]
    assert users, "the image runs as root"
    assert users[-1] not in ("root", "0", "0:0")


# --- the commands themselves --------------------------------------------------------------


@pytest.fixture
def environment(postgres_url: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The services' environment, for this machine: a fresh schema, a fresh data directory."""
    redis_url = SERVICES["api"]["environment"]["INBOXFLOW_REDIS_URL"].replace(
        "//redis:", "//127.0.0.1:"
    )
    try:
        redis.Redis.from_url(redis_url, socket_connect_timeout=3).ping()
    except redis.RedisError as error:
        service_missing("Redis", error)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    environment = {
        **{k: str(v) for k, v in SERVICES["api"]["environment"].items()},
        "INBOXFLOW_ADMIN_TOKEN": "compose-test-operator",
        "INBOXFLOW_SECRET_KEY": "compose-test-key",
        "INBOXFLOW_DATABASE_URL": TEST_DATABASE_URL,
        "INBOXFLOW_DATABASE_SCHEMA": schema,
        "INBOXFLOW_REDIS_URL": redis_url,
        "INBOXFLOW_DATA_DIR": str(tmp_path / "var"),
    }
    yield {**base_environment(tmp_path), **environment}
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def local(command: list[str], port: int) -> list[str]:
    """A service's arguments, minus `inboxflow`, listening on `port` instead of 8000."""
    args = command[1:]
    return [str(port) if a == "8000" and args[i - 1] == "--port" else a for i, a in enumerate(args)]


def healthz(port: int) -> int | str:
    try:
        with urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
            return int(answer.status)
    except OSError as error:
        return str(error)


def test_each_service_announces_ready_and_stops_cleanly_on_sigterm(
    environment: dict[str, str],
) -> None:
    migrate = subprocess.run(
        inboxflow(local(SERVICES["migrate"]["command"], 0)),
        cwd=ROOT,
        env=environment,
        capture_output=True,
        timeout=60,
    )
    assert migrate.returncode == 0, migrate.stderr.decode()[-2000:]
    port = free_port()
    running = {
        name: CliProcess(local(service["command"], port), environment, name)
        for name, service in LONG_RUNNING.items()
        if service.get("build")
    }
    try:
        for process in running.values():
            worker = process.args[0]
            ready = process.wait_for("ready", timeout=45, worker=worker)
            assert ready["pid"] > 0
        assert healthz(port) == 200, "\n".join(running["api"].raw[-30:])
        for name in ("project", "ingest", "send", "dispatch"):
            check = subprocess.run(
                inboxflow(SERVICES[name]["healthcheck"]["test"][2:]), cwd=ROOT, env=environment
            )
            assert check.returncode == 0, f"{name}: its health check fails while it runs"
        stopped = {name: p.stop(signal.SIGTERM) for name, p in running.items()}
    finally:
        for process in running.values():
            process.close()
    for name, (status, seconds) in stopped.items():
        assert status == 0, f"{name} exited {status}:\n" + "\n".join(running[name].raw[-20:])
        assert seconds < STOP_WITHIN, name
        running[name].wait_for("stopped", timeout=1)
    late = subprocess.run(inboxflow(["healthcheck", "ingest"]), cwd=ROOT, env=environment)
    assert late.returncode == 1  # stopped: no heartbeat any more


def test_the_api_and_a_worker_stop_cleanly_on_sigint_too(environment: dict[str, str]) -> None:
    subprocess.run(inboxflow(["migrate"]), cwd=ROOT, env=environment, check=True, timeout=60)
    port = free_port()
    running = [
        CliProcess(local(SERVICES[name]["command"], port), environment, name)
        for name in ("api", "project")
    ]
    try:
        for process in running:
            process.wait_for("ready", timeout=45, worker=process.args[0])
        stopped = [process.stop(signal.SIGINT) for process in running]
    finally:
        for process in running:
            process.close()
    assert [status for status, _ in stopped] == [0, 0]
    assert all(seconds < STOP_WITHIN for _, seconds in stopped)


STUCK = """
import time
from api.logs import configure_logging
from api.settings import Settings
from api.workers.lifecycle import WorkerProcess
configure_logging(Settings(log_format="json"))
process = WorkerProcess("stuck", budget=1.0)
process.run(stop=lambda: time.sleep(60))
"""


def test_a_worker_whose_stop_hangs_is_abandoned_within_the_budget(tmp_path: Path) -> None:
    command = [sys.executable, "-c", STUCK]
    process = CliProcess([], base_environment(tmp_path), "stuck", command=command)
    try:
        process.wait_for("ready", timeout=30, worker="stuck")
        status, seconds = process.stop(signal.SIGTERM)
        process.wait_for("abandoned", timeout=1, worker="stuck")
    finally:
        process.close()
    assert status == 0
    assert 1.0 <= seconds < 3.0
