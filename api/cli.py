"""The `inboxflow` command: serve, migrate, project, rebuild, demo."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

from api.bootstrap import build, new_token
from api.settings import Settings


def operator_token(settings: Settings) -> Settings:
    """The operator token: from the environment, else generated once and kept under var/."""
    if settings.admin_token:
        return settings
    path = settings.data_dir / "operator-token"
    if not path.exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(new_token())
        path.chmod(0o600)
    return settings.model_copy(update={"admin_token": path.read_text().strip()})


def serve(settings: Settings) -> None:
    import uvicorn

    from api.app import create_app

    settings = operator_token(settings)
    services = build(settings)
    where = (settings.database_url and "PostgreSQL") or f"SQLite under {settings.data_dir}/"
    print(f"inboxflow serving on http://{settings.host}:{settings.port} ({where})")
    print(f"operator token: {settings.admin_token}")
    uvicorn.run(
        create_app(services),
        host=settings.host,
        port=settings.port,
        log_level="info",
        timeout_graceful_shutdown=5,
    )


def migrate(settings: Settings) -> None:
    from api.workers import dispatch as dispatch_worker
    from api.workers import send as send_worker

    services = build(settings.model_copy(update={"run_workers": False}), migrating=True)
    services.close()
    send_worker.migrate(settings)
    dispatch_worker.migrate(settings)
    print("tables are in place")


def project(settings: Settings) -> None:
    """Run the projection workers alone (PostgreSQL deployments), until SIGTERM."""
    services = build(settings.model_copy(update={"run_workers": True}), embedded_workers=False)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print("projections running", flush=True)
    while not stop.wait(1.0):
        if errors := services.read.errors():
            print(f"projection failed: {errors}", file=sys.stderr)
            break
    services.close()


def rebuild(settings: Settings, name: str) -> None:
    services = build(settings.model_copy(update={"run_workers": False}))

    def progress(done: int, total: int) -> None:
        width = 40
        filled = width * done // max(total, 1)
        print(
            f"\r{name} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}",
            end="",
            file=sys.stderr,
            flush=True,
        )

    services.read.rebuild(name, progress)
    print(file=sys.stderr)
    services.close()


def demo(settings: Settings) -> None:
    from api.demo import seed

    services = build(settings)
    for name, value in seed(services).items():
        print(f"{name}: {value}")
    services.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="inboxflow")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("serve", help="serve the HTTP API (and, embedded, every worker)")
    run.add_argument("--host")
    run.add_argument("--port", type=int)
    sub.add_parser("migrate", help="create the event store and read model tables")
    sub.add_parser("project", help="run the projection workers")
    again = sub.add_parser("rebuild", help="replay one projection from the log")
    again.add_argument("name")
    sub.add_parser("demo", help="seed a demo company with agents and sample mail")
    sub.add_parser("send", help="deliver the outbox over SMTP and decide auto-replies")
    sub.add_parser("dispatch", help="offer waiting email to agents, run the timers, notify")
    sub.add_parser("ingest", help="fetch mail from every IMAP mailbox")
    args = parser.parse_args(argv)
    logging.basicConfig(level=os.environ.get("INBOXFLOW_LOG_LEVEL", "INFO"))
    settings = Settings.from_env()
    if args.command == "serve":
        updates = {k: v for k, v in (("host", args.host), ("port", args.port)) if v}
        serve(settings.model_copy(update=updates))
    elif args.command == "migrate":
        migrate(settings)
    elif args.command == "project":
        project(settings)
    elif args.command == "rebuild":
        rebuild(settings, args.name)
    elif args.command == "demo":
        demo(settings)
    elif args.command == "send":
        from api.workers.send import main as send_main

        send_main(settings)
    elif args.command == "dispatch":
        from api.workers.dispatch import main as dispatch_main

        dispatch_main(settings)
    elif args.command == "ingest":
        from api.workers.ingest import main as ingest_main

        ingest_main(settings)
