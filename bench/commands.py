"""HTTP command throughput of `inboxflow serve` against baselines measured in the same run.

For SQLite (temp data dir) and PostgreSQL (a fresh schema, dropped afterwards): agents run the
cycle accept → park → resume → close over HTTP at 1 and 16 concurrent clients, and the figures
are set against the raw commit rate of the backend and the library's append rate.

    .venv/bin/python bench/commands.py [--backend sqlite|postgres|both] [--cycles 200]
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
from common import (
    DEFAULT_PG_URL,
    bearer,
    expect_ok,
    fmt,
    fresh_schema,
    library_append_rate,
    library_env,
    machine,
    markdown_table,
    percentile,
    postgres_problem,
    problem_type,
    rate,
    raw_postgres_rate,
    raw_sqlite_rate,
    run_threads,
    serving,
    split,
    write_json,
)

OPERATOR = "bench-operator-token"
STEPS: tuple[tuple[str, dict[str, Any] | None], ...] = (
    ("accept", None),
    ("park", None),
    ("resume", None),
    ("close", {"disposition": []}),
)
SEED_THREADS = 4


@dataclass
class Tally:
    """One client's requests: latencies per command, and every failure by kind."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s, _ in STEPS})
    errors: Counter[str] = field(default_factory=Counter)
    requests: int = 0


@dataclass
class Tenant:
    company_id: str
    admin_token: str
    agent_tokens: list[str]


# --- setup over HTTP (as tests/api/scenario.py does, against a real server) ------------------


def setup_tenant(client: httpx.Client, agents: int) -> Tenant:
    """A company with one queue, one mailbox and `agents` agents, each with its own token."""
    company = expect_ok(
        client.post(
            "/v1/companies",
            headers=bearer(OPERATOR),
            json={"name": "Bench", "open_limit": 1_000_000, "timezone": "UTC"},
        )
    )
    base = f"/v1/companies/{company['id']}"
    admin = expect_ok(
        client.post(
            f"{base}/users",
            headers=bearer(OPERATOR),
            json={"name": "Ada", "email": "ada@bench.test", "role": "admin"},
        )
    )["token"]
    queue = expect_ok(
        client.post(
            f"{base}/queues", headers=bearer(admin), json={"name": "General", "priority": 5}
        )
    )["id"]
    tokens = [
        expect_ok(
            client.post(
                f"{base}/users",
                headers=bearer(admin),
                json={
                    "name": f"Agent {n}",
                    "email": f"agent{n}@bench.test",
                    "role": "agent",
                    "queues": [queue],
                },
            )
        )["token"]
        for n in range(agents)
    ]
    expect_ok(
        client.post(
            f"{base}/mailboxes",
            headers=bearer(admin),
            json={"address": "support@bench.test", "default_queue_id": queue},
        )
    )
    return Tenant(company["id"], admin, tokens)


def raw_email(number: int) -> bytes:
    return (
        f"From: Carol <carol{number}@customer.test>\r\nTo: support@bench.test\r\n"
        f"Subject: Invoice {number} is wrong\r\nMessage-ID: <{uuid4().hex}@customer.test>\r\n"
        "Date: Mon, 02 Mar 2026 09:00:00 +0000\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\nPlease fix my invoice.\r\n"
    ).encode()


def seed(base: str, tenant: Tenant, count: int) -> dict[str, Any]:
    """Posts `count` inbound emails from a few clients: the new interactions' ids, the inbound
    rate, and every failure by kind (a 409 asks to retry, and is retried up to 3 times)."""
    ids: list[str] = []
    errors: Counter[str] = Counter()
    headers = {**bearer(tenant.admin_token), "Content-Type": "message/rfc822"}
    counts = split(count, SEED_THREADS)

    def post(index: int) -> None:
        with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
            for number in range(counts[index]):
                raw = raw_email(number)
                for _ in range(4):
                    response = client.post(
                        f"/v1/companies/{tenant.company_id}/inbound", content=raw
                    )
                    if response.status_code != 409:
                        break
                    errors[f"inbound: 409 {problem_type(response)}"] += 1
                ids.append(expect_ok(response)["interaction_id"])

    elapsed = run_threads(SEED_THREADS, post)
    return {"ids": ids, "inbound_per_s": rate(count, elapsed), "errors": dict(errors)}


# --- the measured cycle -----------------------------------------------------------------------


def cycle(client: httpx.Client, interaction_id: str, tally: Tally) -> None:
    """accept → park → resume → close; a failed step ends the cycle (the rest cannot succeed)."""
    for step, body in STEPS:
        tally.requests += 1
        started = time.perf_counter()
        try:
            response = client.post(f"/v1/interactions/{interaction_id}/{step}", json=body)
        except httpx.HTTPError as error:
            tally.errors[f"{step}: {type(error).__name__}"] += 1
            return
        tally.latencies[step].append(time.perf_counter() - started)
        if not response.is_success:
            tally.errors[f"{step}: {response.status_code} {problem_type(response)}"] += 1
            return


def run_level(base: str, tenant: Tenant, work: list[list[str]]) -> dict[str, Any]:
    """One client per agent, each with its own keep-alive connection and interactions."""
    clients = [
        httpx.Client(base_url=base, headers=bearer(token), timeout=30)
        for token in tenant.agent_tokens[: len(work)]
    ]
    tallies = [Tally() for _ in work]
    try:
        for client in clients:
            client.get("/healthz")  # opens the connection outside the measurement

        def agent(index: int) -> None:
            for interaction_id in work[index]:
                cycle(clients[index], interaction_id, tallies[index])

        cpu = time.process_time()
        elapsed = run_threads(len(work), agent)
        cpu = time.process_time() - cpu
    finally:
        for client in clients:
            client.close()
    return {**summarize(tallies, elapsed), "client_cpu_cores": cpu / elapsed}


def summarize(tallies: list[Tally], elapsed: float) -> dict[str, Any]:
    """Commands/s counts successful requests only; every failure is listed by kind."""
    by_step = {s: [v for t in tallies for v in t.latencies[s]] for s, _ in STEPS}
    every = [v for values in by_step.values() for v in values]
    kinds = sum((t.errors for t in tallies), Counter[str]())
    requests, errors = sum(t.requests for t in tallies), sum(kinds.values())
    return {
        "clients": len(tallies),
        "seconds": elapsed,
        "requests": requests,
        "errors": errors,
        "error_kinds": dict(kinds),
        "commands_per_s": rate(requests - errors, elapsed),
        "p50_ms": percentile(every, 50) * 1000,
        "p99_ms": percentile(every, 99) * 1000,
        "p50_ms_by_command": {s: percentile(v, 50) * 1000 for s, v in by_step.items()},
        "p99_ms_by_command": {s: percentile(v, 99) * 1000 for s, v in by_step.items()},
    }


def http_levels(base: str, levels: list[int], cycles: int) -> dict[str, Any]:
    with httpx.Client(base_url=base, timeout=30) as client:
        tenant = setup_tenant(client, max(levels))
    seeded = seed(base, tenant, cycles * len(levels))
    ids = seeded.pop("ids")
    results: dict[str, Any] = {"seed": seeded}
    for number, clients in enumerate(levels):
        mine = iter(ids[number * cycles : (number + 1) * cycles])
        work = [[next(mine) for _ in range(n)] for n in split(cycles, clients)]
        results[str(clients)] = run_level(base, tenant, work)
    return results


# --- one backend ------------------------------------------------------------------------------


def baselines(backend: str, where: Path, schema: str, args: argparse.Namespace) -> dict[str, Any]:
    """Raw commits/s and library saves/s of the backend, at each concurrency level."""
    pg_url, seconds = (args.pg_url if backend == "postgres" else None), args.baseline_seconds
    raw, library = {}, {}
    for threads in args.levels:
        if pg_url:
            raw[str(threads)] = raw_postgres_rate(pg_url, schema, threads, seconds)
        else:
            raw[str(threads)] = raw_sqlite_rate(where / "raw.db", threads, seconds)
        env = library_env(where / f"library-{threads}", pg_url, schema, threads)
        library[str(threads)] = library_append_rate(env, threads, seconds)
    return {"raw_commits_per_s": raw, "library_saves_per_s": library}


def mean_of(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    return {
        kind: {level: (rates[level] + after[kind][level]) / 2 for level in rates}
        for kind, rates in before.items()
    }


@contextlib.contextmanager
def backend_settings(
    backend: str, where: Path, pg_url: str
) -> Iterator[tuple[dict[str, str], str]]:
    """The server's INBOXFLOW_* settings and the schema (a fresh one on PostgreSQL)."""
    settings = {"INBOXFLOW_DATA_DIR": str(where / "var"), "INBOXFLOW_ADMIN_TOKEN": OPERATOR}
    if backend == "sqlite":
        yield settings, "public"
        return
    with fresh_schema(pg_url) as schema:
        yield (
            {**settings, "INBOXFLOW_DATABASE_URL": pg_url, "INBOXFLOW_DATABASE_SCHEMA": schema},
            schema,
        )


def log_problems(log: Path, most: int = 20) -> list[str]:
    """Lines of the server's log that speak of an error (uvicorn's access log is on)."""
    lines = log.read_text(errors="replace").splitlines()
    return [line for line in lines if "Error" in line or "Traceback" in line][:most]


def run_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    """Baselines before and after the HTTP run (the machine drifts); ratios use their mean."""
    with tempfile.TemporaryDirectory(prefix=f"bench-{backend}-") as tmp:
        where = Path(tmp)
        with backend_settings(backend, where, args.pg_url) as (settings, schema):
            before = baselines(backend, where, schema, args)
            with serving(settings, where / "server.log") as base:
                http = http_levels(base, args.levels, args.cycles)
            after = baselines(backend, where, schema, args)
            problems = log_problems(where / "server.log")
    result = {
        **mean_of(before, after),
        "baselines": {"before": before, "after": after},
        "http": http,
        "server_log_problems": problems,
    }
    for level, h in ((str(n), http[str(n)]) for n in args.levels):
        h["per_library_save"] = h["commands_per_s"] / result["library_saves_per_s"][level]
        h["per_raw_commit"] = h["commands_per_s"] / result["raw_commits_per_s"][level]
    return result


# --- report -----------------------------------------------------------------------------------

HEADERS = (
    "backend",
    "clients",
    "requests",
    "errors",
    "commands/s",
    "p50 ms",
    "p99 ms",
    "library saves/s",
    "raw commits/s",
    "÷ library",
    "÷ raw",
)


def main_rows(backend: str, result: dict[str, Any], levels: list[int]) -> list[list[str]]:
    if "skipped" in result:
        return [[backend, "-", "-", "-", f"skipped: {result['skipped']}", *["-"] * 6]]
    out = []
    for key in map(str, levels):
        h = result["http"][key]
        out.append(
            [
                backend,
                key,
                str(h["requests"]),
                str(h["errors"]),
                fmt(h["commands_per_s"]),
                fmt(h["p50_ms"], 1),
                fmt(h["p99_ms"], 1),
                fmt(result["library_saves_per_s"][key]),
                fmt(result["raw_commits_per_s"][key]),
                fmt(h["per_library_save"], 2),
                fmt(h["per_raw_commit"], 3),
            ]
        )
    return out


def step_rows(backend: str, result: dict[str, Any], levels: list[int]) -> list[list[str]]:
    out = []
    for key in map(str, levels if "http" in result else []):
        h = result["http"][key]
        cells = [
            f"{fmt(h['p50_ms_by_command'][s], 1)} / {fmt(h['p99_ms_by_command'][s], 1)}"
            for s, _ in STEPS
        ]
        out.append([backend, key, *cells])
    return out


def drift_rows(backend: str, result: dict[str, Any], levels: list[int]) -> list[list[str]]:
    out = []
    for key in map(str, levels if "http" in result else []):
        b, a = result["baselines"]["before"], result["baselines"]["after"]
        out.append(
            [
                backend,
                key,
                *(
                    f"{fmt(b[kind][key])} → {fmt(a[kind][key])}"
                    for kind in ("library_saves_per_s", "raw_commits_per_s")
                ),
            ]
        )
    return out


def report(results: dict[str, Any], levels: list[int]) -> None:
    def table(make: Any) -> list[list[str]]:
        return [row for name, res in results.items() for row in make(name, res, levels)]

    print(markdown_table(HEADERS, table(main_rows)))
    if steps := table(step_rows):
        print("\np50 / p99 ms by command\n")
        print(markdown_table(("backend", "clients", *(s for s, _ in STEPS)), steps))
        print("\nbaselines before → after the HTTP run (ratios use the mean)\n")
        print(
            markdown_table(
                ("backend", "threads", "library saves/s", "raw commits/s"), table(drift_rows)
            )
        )
    for name, res in results.items():
        if "http" in res:
            seeded = res["http"]["seed"]
            print(
                f"\n{name}: seeding {fmt(seeded['inbound_per_s'])} inbound emails/s "
                f"({SEED_THREADS} clients), errors: {seeded['errors'] or 'none'}"
            )
        for key in map(str, levels if "http" in res else []):
            if kinds := res["http"][key]["error_kinds"]:
                print(f"{name} at {key} clients, errors: {kinds}")


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--cycles", type=int, default=200, help="cycles per level and backend")
    parser.add_argument("--clients", default="1,16", help="concurrency levels, comma-separated")
    parser.add_argument(
        "--baseline-seconds", type=float, default=1.5, help="duration of each baseline measurement"
    )
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    args = parser.parse_args(argv)
    args.levels = [int(n) for n in args.clients.split(",")]
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    backends = ("sqlite", "postgres") if args.backend == "both" else (args.backend,)
    started = datetime.now(UTC)
    results: dict[str, Any] = {}
    for backend in backends:
        problem = postgres_problem(args.pg_url) if backend == "postgres" else None
        if problem:
            print(f"PostgreSQL skipped: {problem}", file=sys.stderr)
            results[backend] = {"skipped": problem.splitlines()[0]}
            continue
        print(f"measuring {backend}…", file=sys.stderr, flush=True)
        try:
            results[backend] = run_backend(backend, args)
        except Exception as error:  # one backend failing must not lose the other's figures
            traceback.print_exc()
            results[backend] = {"skipped": f"failed: {type(error).__name__}: {error}"[:300]}
    report(results, args.levels)
    settings = {k: v for k, v in vars(args).items() if k != "pg_url"}
    path = write_json(
        "commands",
        {
            "benchmark": "commands",
            "started_at": started.isoformat(),
            "seconds": (datetime.now(UTC) - started).total_seconds(),
            "machine": machine(),
            "server": "inboxflow serve, 1 uvicorn worker, embedded projection workers",
            "settings": settings,
            "results": results,
        },
    )
    print(f"\nwritten to {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
