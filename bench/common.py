"""Helpers shared by the benchmarks: a real server subprocess, timing, PostgreSQL, reporting."""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

import httpx
import psycopg
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate

from adapters.persistence import Persistence, PostgresTarget

T = TypeVar("T")

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_PG_URL = os.environ.get(
    "INBOXFLOW_TEST_DATABASE_URL",
    "postgresql://inboxflow:inboxflow@127.0.0.1:5432/inboxflow_test",
)


# --- timing ---------------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0-100) with linear interpolation between closest ranks."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def split(total: int, parts: int) -> list[int]:
    """`total` spread over `parts` as evenly as possible."""
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def run_threads(count: int, work: Callable[[int], None]) -> float:
    """Runs work(0..count-1) in `count` threads released together; the wall time in seconds."""
    barrier = threading.Barrier(count + 1)
    failures: list[BaseException] = []

    def target(index: int) -> None:
        barrier.wait()
        try:
            work(index)
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise failures[0]
    return elapsed


def rate(ops: int, seconds: float) -> float:
    return ops / seconds if seconds > 0 else math.nan


# --- baselines: what the backend commits raw, and what the library appends ----------------------


def measure(resources: Sequence[T], seconds: float, operation: Callable[[T, int], None]) -> float:
    """Calls per second of `operation` over `seconds`, one thread per resource, after one
    warm-up call each (resources are opened before, and closed after, by the caller)."""
    for resource in resources:
        operation(resource, -1)
    counts = [0] * len(resources)

    def work(index: int) -> None:
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            operation(resources[index], counts[index])
            counts[index] += 1

    elapsed = run_threads(len(resources), work)
    return rate(sum(counts), elapsed)


def raw_sqlite_rate(path: Path, threads: int, seconds: float) -> float:
    """One-row INSERT + commit per call, one sqlite3 connection per thread, WAL."""
    connections = [
        sqlite3.connect(path, timeout=10, check_same_thread=False) for _ in range(threads)
    ]
    connections[0].execute("PRAGMA journal_mode=WAL")
    connections[0].execute("CREATE TABLE IF NOT EXISTS raw (id INTEGER PRIMARY KEY, v TEXT)")

    def insert(conn: sqlite3.Connection, number: int) -> None:
        with conn:
            conn.execute("INSERT INTO raw (v) VALUES (?)", (f"row {number}",))

    try:
        return measure(connections, seconds, insert)
    finally:
        for conn in connections:
            conn.close()


def raw_postgres_rate(url: str, schema: str, threads: int, seconds: float) -> float:
    """One-row INSERT + commit per call, one psycopg connection per thread."""
    table = f'"{schema}".raw_commits'
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE IF NOT EXISTS {table} (id bigserial PRIMARY KEY, v text)")
    connections = [psycopg.connect(url) for _ in range(threads)]

    def insert(conn: psycopg.Connection[Any], number: int) -> None:
        conn.execute(f"INSERT INTO {table} (v) VALUES (%s)", (f"row {number}",))
        conn.commit()

    try:
        return measure(connections, seconds, insert)
    finally:
        for conn in connections:
            conn.close()


class Tick(Aggregate):
    """The most trivial aggregate: one small Created event."""

    def __init__(self, number: int) -> None:
        self.number = number


class AppendBench(Application[UUID]):
    name = "AppendBench"


def library_env(data_dir: Path, pg_url: str | None, schema: str, threads: int) -> dict[str, str]:
    """The environment the project gives its application (adapters.persistence), with a pool
    large enough for `threads`."""
    target = PostgresTarget.from_url(pg_url, schema=schema) if pg_url else None
    return Persistence(data_dir=data_dir, postgres=target, pool_size=threads).application_env()


def library_append_rate(env: Mapping[str, str], threads: int, seconds: float) -> float:
    """New aggregate per `save()`, `threads` threads sharing one application."""
    app = AppendBench(env=env)

    def append(shared: AppendBench, number: int) -> None:
        shared.save(Tick(number))

    try:
        return measure([app] * threads, seconds, append)
    finally:
        app.close()


# --- a real server ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(settings: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without any INBOXFLOW_* setting, plus `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INBOXFLOW_")}
    env.update(settings)
    return env


def inboxflow(*args: str) -> list[str]:
    return [str(Path(sys.executable).parent / "inboxflow"), *args]


@contextlib.contextmanager
def serving(settings: Mapping[str, str], log: Path, timeout: float = 30.0) -> Iterator[str]:
    """`inboxflow migrate`, then `inboxflow serve` as a subprocess on a free port: its base URL
    once /healthz answers."""
    port = free_port()
    env = server_env({**settings, "INBOXFLOW_LOG_LEVEL": "WARNING"})
    with log.open("wb") as out:
        subprocess.run(
            inboxflow("migrate"),
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=True,
            timeout=timeout,
        )
        command = inboxflow("serve", "--host", "127.0.0.1", "--port", str(port))
        process = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            base = f"http://127.0.0.1:{port}"
            wait_healthy(base, process, log, timeout)
            yield base
        finally:
            stop(process)


def wait_healthy(base: str, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited ({process.returncode}):\n{log.read_text()}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{base}/healthz", timeout=1.0).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"the server did not answer /healthz in {timeout} s:\n{log.read_text()}")


def stop(process: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGINT (uvicorn's graceful shutdown, which closes the services), then SIGKILL."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def expect_ok(response: httpx.Response) -> Any:
    """The JSON answer of a setup request, which must succeed."""
    if not response.is_success:
        raise RuntimeError(
            f"{response.request.method} {response.request.url} answered "
            f"{response.status_code}: {response.text}"
        )
    return response.json()


def problem_type(response: httpx.Response) -> str:
    with contextlib.suppress(ValueError, AttributeError):
        return str(response.json().get("type", ""))
    return ""


# --- PostgreSQL -------------------------------------------------------------------------------


def postgres_problem(url: str) -> str | None:
    """None when PostgreSQL answers at `url`, else why not."""
    try:
        with psycopg.connect(url, connect_timeout=3):
            return None
    except psycopg.Error as error:
        return str(error).strip() or type(error).__name__


@contextlib.contextmanager
def fresh_schema(url: str, prefix: str = "bench", *, keep: bool = False) -> Iterator[str]:
    """A schema of its own for one run, dropped (with everything in it) afterwards unless
    `keep`."""
    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield schema
    finally:
        if not keep:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


# --- reporting --------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": cpu_model() or platform.processor(),
        "cpu_count": os.cpu_count(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
    }


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return ""


def fmt(value: Any, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def utc_stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")


def write_json(name: str, data: Mapping[str, Any]) -> Path:
    """Writes bench/results/<name>-<UTC date>.json and returns its path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}-{utc_stamp()}.json"
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    return path
