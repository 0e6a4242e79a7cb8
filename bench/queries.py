"""Read side at scale on PostgreSQL: query latency over a generated log, and the API's memory.

Load: `bench/traffic.py` drives interactions through the real domain model; their events go
through the real projections' batched path (`Projection.process_batch`, pages of 1,000 events,
one transaction each, as the catch-up runner applies them). Feeder processes split the
projections between them and each replays the same deterministic event stream.

Queries, each timed `--samples` times on random subjects in a separate process that opens the
views as the API does (p50/p99 in ms): the timeline of one interaction, an agent's inbox, a
queue's waiting list, a filtered list page (open, one queue), a free-text search, a day's
report per queue. The query process's peak RSS is measured at two sizes of the same database
(after `--checkpoint` of the interactions, and at the end): flat memory means the two agree.

    .venv/bin/python bench/queries.py [--interactions 1000000] [--feeders 2] [--keep]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import resource
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg

from adapters.persistence import Persistence, PostgresTarget
from bench.common import (
    DEFAULT_PG_URL,
    fmt,
    fresh_schema,
    machine,
    markdown_table,
    percentile,
    postgres_problem,
    write_json,
)
from bench.traffic import Shape, generate
from projections.registry import PROJECTIONS

QUERIED = ("timeline", "agent_inbox", "queue_waiting", "search", "reports")
PAGE = 1_000
TARGET_P99_MS = {"timeline": 10, "inbox": 10, "free_text": 50}


def store(url: str, schema: str) -> Persistence:
    target = PostgresTarget.from_url(url, schema=schema)
    return Persistence(data_dir=Path("/tmp/inboxflow-bench-queries"), postgres=target)


def feed(
    url: str, schema: str, shape: Shape, names: list[str], span: tuple[int, int, int], out: Any
) -> None:
    """Interactions first..last-1 of the stream into the named projections; events/s back."""
    persistence = store(url, schema)
    views = [
        cls.open(persistence.view_datastore(cls.name)) for cls in PROJECTIONS if cls.name in names
    ]
    page: list[tuple[Any, int]] = []
    first, last, position = span
    started, count = time.perf_counter(), 0
    for event in generate(shape, first, last):
        position += 1
        page.append((event, position))
        if len(page) == PAGE:
            for view in views:
                view.process_batch(page)
            count += len(page)
            page = []
    if page:
        for view in views:
            view.process_batch(page)
        count += len(page)
    for view in views:
        view.view.close()
    out.put((names, count, time.perf_counter() - started))


def tracked(url: str, schema: str) -> int:
    with psycopg.connect(url) as conn:
        found = conn.execute(
            f'SELECT MAX(notification_id) FROM "{schema}".timeline_tracking '
            "WHERE application_name <> '__migration__'"
        ).fetchone()
    return int(found[0] or 0) if found else 0


def load(
    url: str, schema: str, shape: Shape, first: int, last: int, feeders: int
) -> tuple[float, int]:
    """Feeds interactions first..last-1 into every queried projection; the events per second
    of the whole load (all projections written) and the number of events."""
    spawn = multiprocessing.get_context("spawn")
    out = spawn.Queue()
    groups = [list(QUERIED[i::feeders]) for i in range(feeders)]
    if feeders == 2:  # about the same Python time per event on each side
        groups = [["timeline", "agent_inbox"], ["queue_waiting", "search", "reports"]]
    span = (first, last, tracked(url, schema))
    started = time.perf_counter()
    workers = [
        spawn.Process(target=feed, args=(url, schema, shape, names, span, out)) for names in groups
    ]
    for worker in workers:
        worker.start()
    counts = [out.get() for _ in workers]
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    events = counts[0][1]
    rate = events / elapsed
    print(
        f"  loaded {last - first:,} interactions, {events:,} events in {elapsed:,.0f} s "
        f"({rate:,.0f} events/s through {len(QUERIED)} projections)",
        flush=True,
    )
    return rate, events


def probe(url: str, schema: str, shape_json: str, samples: int) -> dict[str, Any]:
    """Runs in its own process: every query `samples` times; latencies and peak RSS."""
    from projections.reports_query import DayRange

    shape = Shape(**json.loads(shape_json))
    rng = random.Random(1)
    persistence = store(url, schema)
    views = {cls.name: cls.open(persistence.view_datastore(cls.name), create_tables=False)
             for cls in PROJECTIONS if cls.name in QUERIED}  # fmt: skip
    with psycopg.connect(url) as conn:
        table = f'"{schema}".search_interactions'
        sample = f"SELECT interaction_id FROM {table} TABLESAMPLE SYSTEM (1) LIMIT 2000"
        rows = conn.execute(sample).fetchall()
        if len(rows) < 100:  # a small table: 1 % of its pages may hold no row at all
            rows = conn.execute(f"SELECT interaction_id FROM {table} LIMIT 2000").fetchall()
        ids = [UUID(row[0]) for row in rows]
    company = shape.company_ids
    day = shape.start.date() + timedelta(days=shape.days // 2)

    def one_company() -> UUID:
        return rng.choice(company)

    queries = {
        "timeline": lambda: views["timeline"].entries(rng.choice(ids)),
        "inbox": lambda: views["agent_inbox"].items(rng.choice(shape.agents[one_company()])),
        "waiting": lambda: views["queue_waiting"].items(
            rng.choice(shape.queues[one_company()]), limit=50
        ),
        "filtered_list": lambda: _filtered(views["search"], shape, rng),
        "free_text": lambda: views["search"].search(one_company(), text=_words(rng), limit=50),
        "day_report": lambda: views["reports"].queue_days(
            one_company(), DayRange.of(day, day, "UTC")
        ),
    }
    results: dict[str, Any] = {}
    for name, query in queries.items():
        for _ in range(min(50, samples)):  # warm the caches as a running API would have them
            query()
        timings = []
        for _ in range(samples):
            began = time.perf_counter()
            query()
            timings.append((time.perf_counter() - began) * 1000)
        results[name] = {"p50_ms": percentile(timings, 50), "p99_ms": percentile(timings, 99)}
    results["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return results


def _words(rng: random.Random) -> str:
    return " ".join(rng.sample(("refund", "parcel", "login", "card", "voucher"), 2))


def _filtered(search: Any, shape: Shape, rng: random.Random) -> Any:
    company = rng.choice(shape.company_ids)
    return search.search(
        company, status="open", queue_id=rng.choice(shape.queues[company]), limit=50
    )


def run_probe(url: str, schema: str, shape: Shape, samples: int) -> dict[str, Any]:
    root = str(Path(__file__).resolve().parents[1])
    code = (
        f"import json, sys; sys.path.insert(0, {root!r}); from bench.queries import probe; "
        f"print(json.dumps(probe({url!r}, {schema!r}, {shape.to_json()!r}, {samples})))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def create_views(url: str, schema: str) -> None:
    persistence = store(url, schema)
    for cls in PROJECTIONS:
        if cls.name in QUERIED:
            cls.open(persistence.view_datastore(cls.name), create_tables=True).view.close()


def table_sizes(url: str, schema: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT relname, pg_total_relation_size(c.oid) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s "
            "AND c.relkind = 'r'",
            (schema,),
        ).fetchall()
    return {name: size for name, size in rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interactions", type=int, default=1_000_000)
    parser.add_argument("--checkpoint", type=float, default=0.1, help="share loaded at probe 1")
    parser.add_argument("--feeders", type=int, default=2)
    parser.add_argument("--samples", type=int, default=1_000)
    parser.add_argument("--url", default=DEFAULT_PG_URL)
    parser.add_argument("--keep", action="store_true", help="keep the schema afterwards")
    args = parser.parse_args()
    if problem := postgres_problem(args.url):
        sys.exit(f"PostgreSQL is not reachable at {args.url}: {problem}")
    shape = Shape(interactions=args.interactions)
    with fresh_schema(args.url, f"benchq_{args.interactions}", keep=args.keep) as schema:
        create_views(args.url, schema)
        middle = max(1, int(args.interactions * args.checkpoint))
        print(f"schema {schema}: loading {middle:,} interactions ...", flush=True)
        rate_1, events_1 = load(args.url, schema, shape, 0, middle, args.feeders)
        small = run_probe(args.url, schema, shape, args.samples)
        print(f"probe at {middle:,}: {small}", flush=True)
        print(f"loading {args.interactions - middle:,} more ...", flush=True)
        rate_2, events_2 = load(args.url, schema, shape, middle, args.interactions, args.feeders)
        large = run_probe(args.url, schema, shape, args.samples)
        sizes = table_sizes(args.url, schema)
    names = [n for n in large if n != "peak_rss_mib"]
    rows = [
        [n, fmt(small[n]["p50_ms"], 2), fmt(small[n]["p99_ms"], 2), fmt(large[n]["p50_ms"], 2),
         fmt(large[n]["p99_ms"], 2), TARGET_P99_MS.get(n, "-")]
        for n in names
    ]  # fmt: skip
    print(markdown_table(
        ["query", f"p50 ms @{middle:,}", f"p99 ms @{middle:,}",
         f"p50 ms @{args.interactions:,}", f"p99 ms @{args.interactions:,}", "target p99 ms"],
        rows,
    ))  # fmt: skip
    print(f"query process peak RSS: {small['peak_rss_mib']:.0f} MiB at {middle:,} interactions, "
          f"{large['peak_rss_mib']:.0f} MiB at {args.interactions:,}")  # fmt: skip
    print(f"generator through the projections: {rate_1:,.0f} and {rate_2:,.0f} events/s")
    report = {
        "machine": machine(),
        "interactions": args.interactions,
        "events": events_1 + events_2,
        "page": PAGE,
        "feeders": args.feeders,
        "load_events_per_s": [rate_1, rate_2],
        "targets_p99_ms": TARGET_P99_MS,
        "probe_small": {"interactions": middle, **small},
        "probe_large": {"interactions": args.interactions, **large},
        "table_bytes": sizes,
    }
    print(f"written {write_json('queries', report)}")


if __name__ == "__main__":
    main()
