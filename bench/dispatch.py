"""Dispatch: offers per second and `routed` → `offered` latency, 100 agents, 10,000 waiting.

Backlog: 10,000 emails wait in a queue when 100 agents (capacity 100 each) log in; the
dispatcher offers them while agents accept every offer at once (a pool of threads playing the
agents). Live: during the drain, an email arrives every 1/rate seconds in a higher-priority queue;
its latency is the time from the commit of its `routed` event to the commit of its `offered`
event. Target: p99 < 100 ms. Baseline, measured in the same run: one-event saves of the library
on the same backend, to which the cost of one offer command is compared.

    python bench/dispatch.py [--backend postgres|sqlite] [--emails 10000] [--agents 100]
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import queue
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.persistence import Persistence, PostgresTarget
from adapters.presence import MemoryPresence
from api.workers.dispatch import CACHED_AGGREGATES, Dispatcher
from bench.common import (
    DEFAULT_PG_URL,
    AppendBench,
    Tick,
    fresh_schema,
    machine,
    percentile,
    postgres_problem,
    write_json,
)
from domain.actors import OPERATOR, Actor
from domain.application import ContactCenter, Saved
from domain.interaction import Interaction
from domain.messages import InboundEmail
from projections.dispatch import DispatchBoard
from projections.runner import Listener


def now() -> datetime:
    return datetime.now(UTC)


class TimedCenter(ContactCenter):
    """The real application, noting when each offer committed and handing it to an agent."""

    name = "ContactCenter"  # the library names an application after its class otherwise

    def __init__(self, env: dict[str, str]) -> None:
        super().__init__(env)
        self.offered_at: dict[UUID, float] = {}
        self.offer_seconds: list[float] = []
        self.accepts: Any = None  # a multiprocessing queue to the agents' process

    def offer(
        self,
        interaction_id: UUID,
        agent_id: UUID,
        reason: dict[str, Any],
        *,
        present: bool,
        at: datetime,
    ) -> Saved:
        started = time.perf_counter()
        saved = super().offer(interaction_id, agent_id, reason, present=present, at=at)
        done = time.perf_counter()
        self.offered_at[interaction_id] = time.monotonic()
        self.offer_seconds.append(done - started)
        self.accepts.put((interaction_id, agent_id))
        return saved


@contextlib.contextmanager
def persistence(backend: str, pg_url: str) -> Iterator[Persistence]:
    with tempfile.TemporaryDirectory() as data:
        if backend == "sqlite":
            yield Persistence(data_dir=Path(data))
            return
        with fresh_schema(pg_url, "bench_dispatch") as schema:
            target = PostgresTarget.from_url(pg_url, schema=schema)
            yield Persistence(data_dir=Path(data), postgres=target, pool_size=8)


def waiting_emails(app: ContactCenter, company: UUID, queue_id: UUID, count: int) -> list[UUID]:
    """`count` routed interactions, 200 per save (no message records: only dispatch reads)."""
    ids: list[UUID] = []
    for start in range(0, count, 200):
        batch = []
        for n in range(start, min(count, start + 200)):
            batch.append(routed_email(company, queue_id, f"<{n}.{uuid4()}@bench.test>"))
        app.save(*batch)
        ids += [i.id for i in batch]
    return ids


def routed_email(company: UUID, queue_id: UUID, message_id: str) -> Interaction:
    email = InboundEmail(rfc_message_id=message_id, sender=f"{uuid4().hex[:8]}@c.test", subject="?")
    interaction = Interaction(
        id=uuid4(),
        company_id=company,
        mailbox="in@bench.test",
        message=email.info(uuid4()),
        continues=None,
        actor="customer",
        timestamp=now(),
    )
    interaction.route(queue_id, None, 0, "bench", at=now())
    return interaction


def baseline_save_ms(env: dict[str, str], saves: int = 300) -> float:
    app = AppendBench(env=env)
    try:
        app.save(Tick(-1))
        started = time.perf_counter()
        for n in range(saves):
            app.save(Tick(n))
        return (time.perf_counter() - started) / saves * 1000
    finally:
        app.close()


def agents(env: dict[str, str], company: UUID, offers: Any, stop: Any, threads: int) -> None:
    """Another process: agents accepting every offer at once, as API processes would."""
    app = ContactCenter(env)

    def accept() -> None:
        while not stop.is_set():
            with contextlib.suppress(queue.Empty):
                interaction_id, agent = offers.get(timeout=0.1)
                app.accept(interaction_id, scope=company, by=Actor("agent", agent), at=now())

    pool = [threading.Thread(target=accept) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    app.close()


def arrivals(env: dict[str, str], company: UUID, queue_id: UUID, count: int, rate: float,
             routed: Any) -> None:  # fmt: skip
    """Another process: live email routed at `rate` per second; when each `routed` committed."""
    app = ContactCenter(env)
    for n in range(count):
        email = routed_email(company, queue_id, f"<live{n}.{uuid4()}@bench.test>")
        app.save(email)
        routed.put((email.id, time.monotonic()))
        time.sleep(1 / rate)
    app.close()


def setup(app: ContactCenter, args: argparse.Namespace) -> tuple[UUID, UUID, UUID, list[UUID]]:
    company, admin = uuid4(), Actor("admin", uuid4())
    app.create_company(company, name="B", timezone="UTC", open_limit=10**6, by=OPERATOR, at=now())
    backlog_q, live_q = uuid4(), uuid4()
    app.create_queue(backlog_q, company, name="Backlog", priority=1, by=admin, at=now())
    app.create_queue(live_q, company, name="Live", priority=9, by=admin, at=now())
    ids = [uuid4() for _ in range(args.agents)]
    for n, agent in enumerate(ids):
        app.register_user(
            agent,
            company,
            name=f"a{n}",
            email=f"a{n}@bench.test",
            role="agent",
            queue_ids=[backlog_q, live_q],
            capacity=100,
            token_hash=str(uuid4()),
            by=admin,
            at=now(),
        )
    return company, backlog_q, live_q, ids


def run(args: argparse.Namespace, store: Persistence) -> dict[str, Any]:
    env = {**store.application_env(), "CREATE_TABLE": "y"}
    app = TimedCenter({**env, "AGGREGATE_CACHE_MAXSIZE": str(CACHED_AGGREGATES)})  # as the worker
    board = DispatchBoard.open(store.view_datastore(DispatchBoard.name))
    company, backlog_q, live_q, agent_ids = setup(app, args)
    print(f"creating {args.emails} waiting emails ...", flush=True)
    backlog = waiting_emails(app, company, backlog_q, args.emails)
    presence = MemoryPresence(ttl=1e9)
    dispatcher = Dispatcher(
        app,
        board,
        presence,
        now,
        idle_poll=0.02,
        max_offers=args.max_offers,
        parallel_offers=args.parallel,
    )
    dispatcher.timer_every = 3600
    dispatcher.catch_up(timeout=120)
    listener = Listener(app, dispatcher.wake) if Listener.applies(app) else None
    for agent in agent_ids:
        app.log_in(agent, scope=company, by=Actor("agent", agent), at=now())

    spawn = multiprocessing.get_context("spawn")
    stop, routed = spawn.Event(), spawn.Queue()
    app.accepts = spawn.Queue()
    others = [
        spawn.Process(target=agents, args=(env, company, app.accepts, stop, args.accepters)),
        spawn.Process(target=arrivals, args=(env, company, live_q, args.live, args.rate, routed)),
    ]
    dispatcher.start()
    if listener is not None:
        listener.start()
    for process in others:
        process.start()
    offerable = min(args.emails + args.live, args.agents * 100)
    deadline = time.monotonic() + args.timeout
    while len(app.offered_at) < offerable and time.monotonic() < deadline:
        time.sleep(0.2)
    others[1].join()
    stop.set()
    others[0].join()
    dispatcher.stop()
    if listener is not None:
        listener.stop()
    routed_at = dict(routed.get() for _ in range(args.live))

    times = sorted(app.offered_at[i] for i in backlog if i in app.offered_at)
    latencies = [
        (app.offered_at[i] - t) * 1000 for i, t in routed_at.items() if i in app.offered_at
    ]
    offer_ms = [s * 1000 for s in app.offer_seconds]
    raw_ms = baseline_save_ms(env)
    board.view.close()
    app.close()
    drained = times[-1] - times[0] if len(times) > 1 else float("nan")
    return {
        "backlog_offered": len(times),
        "live_offered": len(latencies),
        "offers_per_s": (len(times) - 1) / drained,
        "latency_ms_p50": percentile(latencies, 50),
        "latency_ms_p99": percentile(latencies, 99),
        "latency_ms_max": max(latencies, default=float("nan")),
        "offer_command_ms_p50": statistics.median(offer_ms),
        "baseline_save_ms": raw_ms,
        "offer_to_save_ratio": statistics.median(offer_ms) / raw_ms,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--emails", type=int, default=10_000)
    parser.add_argument("--agents", type=int, default=100)
    parser.add_argument("--live", type=int, default=300, help="emails arriving during the drain")
    parser.add_argument("--rate", type=float, default=10.0, help="live arrivals per second")
    parser.add_argument("--accepters", type=int, default=4, help="threads accepting offers")
    parser.add_argument("--max-offers", type=int, default=4, help="offers per dispatch cycle")
    parser.add_argument("--parallel", type=int, default=4, help="offers made at once")
    parser.add_argument("--timeout", type=float, default=900.0)
    args = parser.parse_args()
    if args.backend == "postgres" and (problem := postgres_problem(args.pg_url)):
        sys.exit(f"PostgreSQL is not reachable: {problem}")
    with persistence(args.backend, args.pg_url) as store:
        figures = run(args, store)
    f = figures
    print(f"\ndispatch on {args.backend}: {args.agents} agents, {args.emails} waiting emails")
    print(f"  backlog offered      {f['backlog_offered']} at {f['offers_per_s']:.0f} offers/s")
    print(
        f"  live routed→offered  p50 {f['latency_ms_p50']:.1f} ms, p99 {f['latency_ms_p99']:.1f}"
        f" ms, max {f['latency_ms_max']:.1f} ms ({f['live_offered']} emails)"
    )
    print(
        f"  one offer command    p50 {f['offer_command_ms_p50']:.2f} ms ="
        f" {f['offer_to_save_ratio']:.1f}x a one-event save ({f['baseline_save_ms']:.2f} ms)"
    )
    path = write_json(
        f"dispatch-{args.backend}", {"args": vars(args), "machine": machine(), **figures}
    )
    print(f"  written to {path}")


if __name__ == "__main__":
    main()
