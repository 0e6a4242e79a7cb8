"""Write path on PostgreSQL: concurrent command throughput against raw commits, same run.

Clients are agents adding internal notes to the emails they own (one command = load the
interaction, decide, save one event), spread over worker processes so that the GIL of one
process is not the limit. While they run, the parent process keeps every projection caught up
(as `inboxflow project` does) and notes when each command's position became visible there:
the projection lag. Baselines measured in the same run on the same database: one-row INSERT +
COMMIT per call (raw), and the library's default recorder appending one-event aggregates.

    .venv/bin/python bench/write_path.py [--clients 16] [--processes 2] [--seconds 10]
        [--without-views]   # nobody projects: the write path alone, no lag measured
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.persistence import Persistence, PostgresTarget
from bench.common import (
    DEFAULT_PG_URL,
    fmt,
    fresh_schema,
    library_append_rate,
    machine,
    markdown_table,
    percentile,
    postgres_problem,
    raw_postgres_rate,
    split,
    write_json,
)
from domain.actors import OPERATOR, Actor
from domain.application import ContactCenter
from domain.interaction import Interaction
from domain.messages import InboundEmail
from projections.registry import ReadModels

LIBRARY_DEFAULT = "eventsourcing.postgres:PostgresApplicationRecorder"
EMAILS_PER_CLIENT = 20


def now() -> datetime:
    return datetime.now(UTC)


def setup(app: ContactCenter, clients: int) -> tuple[UUID, list[tuple[UUID, list[UUID]]]]:
    """A company with one agent per client, each owning EMAILS_PER_CLIENT active emails."""
    company, admin = uuid4(), Actor("admin", uuid4())
    app.create_company(company, name="W", timezone="UTC", open_limit=10**6, by=OPERATOR, at=now())
    queue = uuid4()
    app.create_queue(queue, company, name="Q", priority=1, by=admin, at=now())
    owners = []
    for n in range(clients):
        agent = uuid4()
        app.register_user(
            agent, company, name=f"a{n}", email=f"a{n}@bench.test", role="agent",
            queue_ids=[queue], capacity=100, token_hash=str(uuid4()), by=admin, at=now(),
        )  # fmt: skip
        emails = []
        for m in range(EMAILS_PER_CLIENT):
            email = InboundEmail(rfc_message_id=f"<{n}.{m}.{uuid4()}@w.test>", sender="c@w.test")
            interaction = Interaction(
                id=uuid4(), company_id=company, mailbox="support@w.test",
                message=email.info(uuid4()), continues=None, actor="customer", timestamp=now(),
            )  # fmt: skip
            interaction.route(queue, None, 0, "bench", at=now())
            interaction.accept(Actor("agent", agent), at=now())
            app.save(interaction)
            emails.append(interaction.id)
        owners.append((agent, emails))
    return company, owners


def client_process(
    env: dict[str, str],
    company: UUID,
    owners: list[tuple[UUID, list[UUID]]],
    start_at: float,
    seconds: float,
    results: Any,
) -> None:
    """One worker process: a thread per agent, adding notes until the time is up."""
    app = ContactCenter(env)
    outcome: list[tuple[float, float, int]] = []  # (latency s, commit wall time, position)
    errors: list[str] = []

    def agent_loop(agent: UUID, emails: list[UUID]) -> None:
        actor, n = Actor("agent", agent), 0
        while time.time() < start_at:
            time.sleep(0.001)
        deadline = start_at + seconds
        while time.time() < deadline:
            began = time.perf_counter()
            try:
                saved = app.add_note(
                    emails[n % len(emails)], uuid4(), f"note {n}", scope=company, by=actor,
                    at=now(),
                )  # fmt: skip
            except Exception as error:  # counted, never hidden
                errors.append(type(error).__name__)
            else:
                outcome.append((time.perf_counter() - began, time.time(), saved.position))
            n += 1

    threads = [threading.Thread(target=agent_loop, args=owner) for owner in owners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    app.close()
    results.put((outcome, errors))


class VisibleAt:
    """Polls the views' positions and notes when each position first became visible."""

    def __init__(self, read: ReadModels | None) -> None:
        self.read, self._stop = read, threading.Event()
        self.marks: list[tuple[int, float]] = []
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        assert self.read is not None
        last = -1
        while not self._stop.is_set():
            position = min(self.read.positions().values())
            if position > last:
                self.marks.append((position, time.time()))
                last = position
            time.sleep(0.001)

    def __enter__(self) -> VisibleAt:
        if self.read is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self.read is not None:
            self._thread.join()

    def lag(self, position: int, committed: float) -> float:
        for seen, at in self.marks:  # sorted by position and time
            if seen >= position:
                return max(0.0, at - committed)
        return float("inf")


def run_commands(
    store: Persistence, clients: int, processes: int, seconds: float, views: bool = True
) -> dict[str, Any]:
    env = store.application_env()
    app = ContactCenter(env)
    company, owners = setup(app, clients)
    read = ReadModels(store, app) if views else None
    if read is not None:
        read.wait(app.recorder.max_notification_id() or 0, timeout=120)
    spawn = multiprocessing.get_context("spawn")
    results = spawn.Queue()
    start_at = time.time() + 3.0  # every process started and connected
    groups, offset = [], 0
    for size in split(clients, processes):
        groups.append(owners[offset : offset + size])
        offset += size
    workers = [
        spawn.Process(target=client_process, args=(env, company, g, start_at, seconds, results))
        for g in groups
        if g
    ]
    with VisibleAt(read) as visible:
        for worker in workers:
            worker.start()
        gathered = [results.get() for _ in workers]
        for worker in workers:
            worker.join()
        if read is not None:
            read.wait(app.recorder.max_notification_id() or 0, timeout=60)
            time.sleep(0.05)
    if read is not None:
        read.close()
    app.close()
    outcome = [o for got, _ in gathered for o in got]
    errors = [e for _, got in gathered for e in got]
    latencies = [o[0] * 1000 for o in outcome]
    lags = [visible.lag(position, committed) * 1000 for _, committed, position in outcome if read]
    return {
        "clients": clients,
        "processes": len(workers),
        "commands": len(outcome),
        "errors": len(errors),
        "commands_per_s": len(outcome) / seconds,
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "lag_p50_ms": percentile(lags, 50),
        "lag_p99_ms": percentile(lags, 99),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--url", default=DEFAULT_PG_URL)
    parser.add_argument("--without-views", action="store_true", help="nobody projects")
    args = parser.parse_args()
    if problem := postgres_problem(args.url):
        sys.exit(f"PostgreSQL is not reachable at {args.url}: {problem}")
    views = not args.without_views
    rows: list[list[Any]] = []
    report = {"machine": machine(), "seconds": args.seconds, "views": views, "runs": []}
    for clients in (1, args.clients):
        with fresh_schema(args.url, "wpath") as schema:
            data = Path(tempfile.mkdtemp(prefix="wpath-"))
            store = Persistence(
                data_dir=data, postgres=PostgresTarget.from_url(args.url, schema=schema),
                pool_size=max(4, clients),
            )  # fmt: skip
            raw = raw_postgres_rate(args.url, schema, clients, min(args.seconds, 5))
            env = store.application_env()
            default = library_append_rate(
                {**env, "APPLICATION_RECORDER_TOPIC": LIBRARY_DEFAULT},
                clients,
                min(args.seconds, 5),
            )
            grouped = library_append_rate(env, clients, min(args.seconds, 5))
            run = run_commands(store, clients, min(args.processes, clients), args.seconds, views)
        run |= {
            "raw_commits_per_s": raw,
            "library_default_saves_per_s": default,
            "group_commit_saves_per_s": grouped,
            "commands_vs_raw": run["commands_per_s"] / raw,
            "library_default_vs_raw": default / raw,
        }
        report["runs"].append(run)
        rows.append([
            clients, run["processes"], fmt(run["commands_per_s"]), fmt(run["p50_ms"], 1),
            fmt(run["p99_ms"], 1), fmt(raw), fmt(run["commands_vs_raw"], 2), fmt(default),
            fmt(run["library_default_vs_raw"], 2), fmt(grouped), fmt(run["lag_p50_ms"], 1),
            fmt(run["lag_p99_ms"], 1), run["errors"],
        ])  # fmt: skip
    headers = [
        "clients", "processes", "commands/s", "p50 ms", "p99 ms", "raw commits/s",
        "commands ÷ raw", "library default saves/s", "default ÷ raw", "group-commit saves/s",
        "lag p50 ms", "lag p99 ms", "errors",
    ]  # fmt: skip
    print(markdown_table(headers, rows))
    print(f"written {write_json('write-path' if views else 'write-path-without-views', report)}")


if __name__ == "__main__":
    main()
