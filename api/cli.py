"""The `inboxflow` command: the API, the workers, and maintenance.

Every long-running command announces `ready` once it serves, and exits 0 within ten seconds of
SIGTERM or SIGINT (see api/workers/lifecycle.py); `healthcheck <worker>` reads the heartbeat a
worker leaves. On PostgreSQL the workers scale out: `project` and `send` keep one active process
per projection (per outbox) with standbys taking over, `ingest` shares the mailboxes.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from api.settings import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI

SERVE_GRACE = 4  # seconds for open requests at SIGTERM; closing the services gets as long
BACKGROUND_WORKERS = ("project", "ingest", "send", "dispatch")


def operator_token(settings: Settings) -> Settings:
    """The operator token: from the environment, else generated once and kept under var/."""
    from api.bootstrap import new_token

    if settings.admin_token:
        return settings
    path = settings.data_dir / "operator-token"
    if not path.exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(new_token())
        path.chmod(0o600)
    return settings.model_copy(update={"admin_token": path.read_text().strip()})


def asgi_app() -> FastAPI:
    """The API of one server process, from the environment: uvicorn's factory (`--workers`
    starts one per process). It announces `ready` once its port accepts connections."""
    from api.app import create_app
    from api.bootstrap import build
    from api.logs import configure_logging
    from api.workers.lifecycle import announce, exit_after

    settings = operator_token(Settings.from_env())
    configure_logging(settings)  # in each server process
    # the API writes its own access lines (api/logs.py), without query strings: not uvicorn
    logging.getLogger("uvicorn.access").propagate = False
    app = create_app(build(settings))
    started = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[Any]:
        async with started(app) as state:
            ready = asyncio.create_task(_announce_when_serving(settings))
            yield state
            ready.cancel()
            exit_after(SERVE_GRACE + 0.5, "serve")  # closing the services, at most this long
        announce("serve", "stopped")

    app.router.lifespan_context = lifespan
    return app


async def _announce_when_serving(settings: Settings) -> None:
    """uvicorn listens only after the application has started: connect until it does."""
    from api.workers.lifecycle import announce

    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(settings.host, settings.host)
    while True:
        try:
            _, writer = await asyncio.open_connection(host, settings.port)
        except OSError:
            await asyncio.sleep(0.02)
            continue
        writer.close()
        announce("serve", "ready", host=settings.host, port=settings.port,
                 workers_here=settings.run_workers)  # fmt: skip
        return


def serve(settings: Settings, workers: int) -> int:
    import uvicorn

    if workers > 1 and (settings.run_workers or not settings.database_url):
        print(
            "--workers above 1 needs PostgreSQL (INBOXFLOW_DATABASE_URL) and "
            "INBOXFLOW_RUN_WORKERS=false: run the workers as their own processes",
            file=sys.stderr,
        )
        return 2
    settings = operator_token(settings)
    where = (settings.database_url and "PostgreSQL") or f"SQLite under {settings.data_dir}/"
    print(f"inboxflow serving on http://{settings.host}:{settings.port} ({where})")
    print(f"operator token: {settings.admin_token}", flush=True)
    # the server processes build their settings from the environment: where they listen too
    os.environ["INBOXFLOW_HOST"], os.environ["INBOXFLOW_PORT"] = settings.host, str(settings.port)
    # uvicorn handles both signals while it serves and raises the one it stopped on again once
    # it has shut down: this handler (also the one before it serves) makes that an exit 0
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _exit_cleanly)
    uvicorn.run(
        "api.cli:asgi_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=workers,
        log_config=None,  # api/logs.py formats uvicorn's lines too
        access_log=False,  # the API writes its own access lines, without query strings
        timeout_graceful_shutdown=SERVE_GRACE,
    )
    return 0


def _exit_cleanly(signum: int, frame: Any) -> None:
    raise SystemExit(0)


def migrate(settings: Settings) -> int:
    from api.bootstrap import build
    from api.workers import dispatch as dispatch_worker
    from api.workers import send as send_worker

    services = build(settings.model_copy(update={"run_workers": False}), migrating=True)
    services.close()
    send_worker.migrate(settings)
    dispatch_worker.migrate(settings)
    print("tables are in place")
    return 0


def project(settings: Settings) -> int:
    """Runs the projections alone, until SIGTERM. On PostgreSQL, as many processes as wanted:
    each projection is leased to one of them, the others stand by and take over."""
    from api.bootstrap import build, lease_session
    from api.workers.lifecycle import WorkerProcess

    process = WorkerProcess("project")
    services = build(settings.model_copy(update={"run_workers": False}), embedded_workers=False)
    leases = lease_session(settings, "project")
    services.read.start(
        (lambda name: leases.lease("projection", name)) if leases is not None else None
    )

    def stop() -> None:
        services.close()
        if leases is not None:
            leases.close()

    def failure() -> str | None:
        errors = services.read.errors()
        return f"projections stopped: {errors}" if errors else None

    print("projections running", flush=True)  # the first line on stdout, as before
    return process.run(
        stop, failure, projections=len(services.read.runners), leased=leases is not None
    )


def rebuild(settings: Settings, name: str) -> int:
    """Replays one projection; on PostgreSQL while holding its lease, so that no `project`
    process writes to it meanwhile."""
    from api.bootstrap import build, lease_session

    services = build(settings.model_copy(update={"run_workers": False}))
    leases = lease_session(settings, "rebuild")
    try:
        if name not in services.read.runners:
            known = ", ".join(sorted(services.read.runners))
            print(f"no projection {name!r}; the projections are {known}", file=sys.stderr)
            return 2
        if leases is not None and not leases.lease("projection", name).acquire():
            holder = leases.holder("projection", name)
            print(f"{name} is being projected by {holder}: stop it first", file=sys.stderr)
            return 1

        def progress(done: int, total: int) -> None:
            width = 40
            filled = width * done // max(total, 1)
            bar = f"[{'#' * filled}{'.' * (width - filled)}]"
            print(f"\r{name} {bar} {done}/{total}", end="", file=sys.stderr, flush=True)

        services.read.rebuild(name, progress)
        print(file=sys.stderr)
        return 0
    finally:
        services.close()
        if leases is not None:
            leases.close()


def demo(settings: Settings) -> int:
    from api.bootstrap import build
    from api.demo import seed

    services = build(settings)
    for name, value in seed(services).items():
        print(f"{name}: {value}")
    services.close()
    return 0


def healthcheck(worker: str, max_age: float) -> int:
    """0 when the worker's heartbeat is fresh (a container health check)."""
    from api.workers.lifecycle import heartbeat_age

    age = heartbeat_age(worker)
    if age is None or age > max_age:
        print(f"{worker}: no heartbeat within {max_age:.0f} s", file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="inboxflow")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("serve", help="serve the HTTP API (and, embedded, every worker)")
    run.add_argument("--host")
    run.add_argument("--port", type=int)
    run.add_argument(
        "--workers", type=int, default=1, help="server processes (PostgreSQL, workers apart)"
    )
    sub.add_parser("migrate", help="create the event store and read model tables")
    sub.add_parser("project", help="run the projection workers")
    again = sub.add_parser("rebuild", help="replay one projection from the log")
    again.add_argument("name")
    sub.add_parser("demo", help="seed a demo company with agents and sample mail")
    sub.add_parser("send", help="deliver the outbox over SMTP and decide auto-replies")
    sub.add_parser("dispatch", help="offer waiting email to agents, run the timers, notify")
    sub.add_parser("ingest", help="fetch mail from every IMAP mailbox")
    health = sub.add_parser("healthcheck", help="exit 0 if the worker's heartbeat is fresh")
    health.add_argument("worker", choices=BACKGROUND_WORKERS)
    health.add_argument("--max-age", type=float, default=30.0, help="seconds")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.command == "healthcheck":  # before anything heavy: it runs every few seconds
        sys.exit(healthcheck(args.worker, args.max_age))
    from api.logs import configure_logging
    from api.metrics import serve_metrics_if_configured

    settings = Settings.from_env()
    configure_logging(settings)
    if args.command in BACKGROUND_WORKERS:
        serve_metrics_if_configured(settings)
    sys.exit(run_command(args, settings))


def run_command(args: argparse.Namespace, settings: Settings) -> int:
    """Runs one command; returns its exit status. Imports are local: each command loads only
    what it uses."""
    command = args.command
    if command == "serve":
        where = {k: v for k, v in (("host", args.host), ("port", args.port)) if v}
        return serve(settings.model_copy(update=where), args.workers)
    if command == "migrate":
        return migrate(settings)
    if command == "project":
        return project(settings)
    if command == "rebuild":
        return rebuild(settings, args.name)
    if command == "demo":
        return demo(settings)
    if command == "send":
        from api.workers.send import main as send_main

        return send_main(settings)
    if command == "dispatch":
        from api.workers.dispatch import main as dispatch_main

        return dispatch_main(settings)
    from api.workers.ingest import main as ingest_main

    return ingest_main(settings)


if __name__ == "__main__":
    main()
