"""Mail-out throughput: the `send` worker against a bare aiosmtplib loop, in the same run.

Both deliver the same composed replies to a local aiosmtpd server with STARTTLS and AUTH (a
throw-away CA). The baseline is one connection sending the bytes back to back; the worker
drains a queued outbox: per email it checks the interaction, sends, records `reply_sent` with
the server's answer and settles its view row. Queueing is not timed.

    .venv/bin/python bench/send.py [--messages 1000] [--backend sqlite|postgres|both]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import (  # noqa: E402
    DEFAULT_PG_URL,
    fmt,
    fresh_schema,
    machine,
    markdown_table,
    postgres_problem,
    write_json,
)

from adapters.smtp_sender import SmtpSession, SmtpSettings  # noqa: E402
from api import sending  # noqa: E402
from api.bootstrap import Services, build  # noqa: E402
from api.cli import migrate  # noqa: E402
from api.schemas.interactions import ReplyIn  # noqa: E402
from api.settings import Settings  # noqa: E402
from api.workers import send  # noqa: E402
from api.workers.send import SendConfig, SendWorker  # noqa: E402
from domain.actors import OPERATOR, Actor  # noqa: E402
from domain.messages import InboundEmail  # noqa: E402
from tests.integration.smtp_peer import PASSWORD, SmtpPeer, make_certificates  # noqa: E402

PER_INTERACTION = 10


def seed(services: Services, peer: SmtpPeer, messages: int) -> list[bytes]:
    """A company whose mailbox sends to `peer`, and `messages` queued replies."""
    app, now = services.app, datetime.now(UTC)
    cid, queue, mailbox = uuid4(), uuid4(), uuid4()
    agent = Actor("agent", uuid4())
    app.create_company(cid, name="Bench", timezone="UTC", open_limit=10**6, by=OPERATOR, at=now)
    app.create_queue(queue, cid, name="Q", priority=1, by=OPERATOR, at=now)
    smtp = {**peer.mailbox_settings(), "password": services.secrets.seal(PASSWORD)}
    app.add_mailbox(
        cid,
        mailbox,
        address="support@acme.test",
        default_queue_id=queue,
        settings={"smtp": smtp},
        by=OPERATOR,
        at=now,
    )
    app.register_user(
        agent.user_id,  # type: ignore[arg-type]
        cid,
        name="A",
        email="a@acme.test",
        role="agent",
        queue_ids=[queue],
        capacity=100,
        token_hash=uuid4().hex,
        by=OPERATOR,
        at=now,
    )
    interactions = []
    for n in range(0, messages, PER_INTERACTION):
        rfc_id = f"<bench-{n}-{uuid4().hex}@customer.test>"
        raw = f"From: carol@customer.test\r\nTo: support@acme.test\r\nMessage-ID: {rfc_id}\r\n"
        blob = services.blobs.put(f"{raw}Subject: Order {n}\r\n\r\nWhere is it?\r\n".encode())
        email = InboundEmail(rfc_id, "carol@customer.test", to=("support@acme.test",), blob=blob)
        delivery = app.receive_email(
            cid, email, recipient=None, arrived_at=now, at=now, find_by_ref=lambda c, t: None
        )
        app.accept(delivery.interaction_id, scope=cid, by=agent, at=now)
        interactions.append(delivery.interaction_id)
        for _ in range(min(PER_INTERACTION, messages - n)):
            body = ReplyIn(body_text="Your order ships today. " * 20)
            sending.reply(services, cid, delivery.interaction_id, body, agent)
    return [
        services.blobs.get(event.message["blob"])
        for iid in interactions
        for event in app.events.get(iid)
        if type(event).__name__ == "ReplyQueued"
    ]


async def bare_loop(peer: SmtpPeer, messages: list[bytes]) -> float:
    """aiosmtplib alone: one session, the same bytes, back to back; messages per second."""
    s = peer.mailbox_settings()
    settings = SmtpSettings(s["host"], s["port"], s["tls"], s["ca_file"], s["username"], PASSWORD)
    session = await SmtpSession(settings).open()
    started = time.perf_counter()
    for data in messages:
        await session.send("support@acme.test", ["carol@customer.test"], data)
    elapsed = time.perf_counter() - started
    await session.close()
    return len(messages) / elapsed


def worker_rate(services: Services, peer: SmtpPeer, expected: int) -> float:
    worker = SendWorker(services, SendConfig(name="bench", batch=200))
    worker.catch_up.run_once()  # the view catches up before the clock starts
    while worker.catch_up.run_once():
        pass
    started = time.perf_counter()
    while len(peer.delivered) < expected:
        worker.run_once()
    elapsed = time.perf_counter() - started
    worker.stop()
    return expected / elapsed


@contextlib.contextmanager
def backend_settings(backend: str, data_dir: Path, pg_url: str) -> Iterator[Settings]:
    if backend == "sqlite":
        yield Settings(data_dir=data_dir, run_workers=False)
        return
    with fresh_schema(pg_url, "bench_send") as schema:
        settings = Settings(
            data_dir=data_dir, database_url=pg_url, database_schema=schema, run_workers=False
        )
        migrate(settings)
        send.migrate(settings)
        yield settings


def run(backend: str, messages: int, pg_url: str, peer: SmtpPeer) -> dict[str, float]:
    with (
        tempfile.TemporaryDirectory() as tmp,
        backend_settings(backend, Path(tmp) / "var", pg_url) as settings,
    ):
        services = build(settings)
        try:
            composed = seed(services, peer, messages)
            peer.reset()
            baseline = asyncio.run(bare_loop(peer, composed))
            peer.reset()
            ours = worker_rate(services, peer, len(composed))
        finally:
            services.close()
    return {"worker": ours, "bare_aiosmtplib": baseline, "ratio": ours / baseline}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    args = parser.parse_args()
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    if "postgres" in backends and (problem := postgres_problem(args.pg_url)):
        print(f"PostgreSQL skipped: {problem}", file=sys.stderr)
        backends.remove("postgres")
    with tempfile.TemporaryDirectory() as tls:
        peer = SmtpPeer(make_certificates(Path(tls))).start()
        try:
            results = {b: run(b, args.messages, args.pg_url, peer) for b in backends}
        finally:
            peer.stop()
    rows = [
        [b, fmt(r["worker"]), fmt(r["bare_aiosmtplib"]), fmt(r["ratio"], 2)]
        for b, r in results.items()
    ]
    print(f"mail out, {args.messages} replies over STARTTLS + AUTH to local aiosmtpd")
    print(markdown_table(["backend", "send worker msg/s", "bare aiosmtplib msg/s", "ratio"], rows))
    path = write_json("send", {"machine": machine(), "messages": args.messages, "results": results})
    print(f"written to {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
