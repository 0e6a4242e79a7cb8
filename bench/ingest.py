"""IMAP ingestion throughput against baselines measured in the same run.

A real Dovecot (started here, on loopback) and PostgreSQL (a fresh schema, dropped afterwards).
N emails are APPENDed to one mailbox's INBOX, then measured:

- end to end: `inboxflow ingest` as its own process, from its start until every email is a
  routed interaction (the checkpoint covers the last UID), and its peak memory (VmHWM);
- baseline "fetch + parse": the same emails fetched with `BODY.PEEK[]` in chunks and parsed
  in this process, nothing stored;
- baseline "raw store append": psycopg `executemany` of the rows an email costs the event
  store (4 events: interaction received and routed, message record, quota place), 200 emails
  per commit;
- the ratios of the end-to-end rate to both.

    .venv/bin/python bench/ingest.py [--messages 10000] [--with-projections]

`--with-projections` also runs `inboxflow project` while ingesting, as a PostgreSQL deployment
does (both processes then share the two cores with PostgreSQL and Dovecot).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the Dovecot harness lives with the tests

from common import (  # noqa: E402
    DEFAULT_PG_URL,
    fmt,
    fresh_schema,
    machine,
    markdown_table,
    postgres_problem,
    write_json,
)

from adapters.mime import ParseLimits, parse_message  # noqa: E402
from api.bootstrap import build  # noqa: E402
from api.cli import migrate  # noqa: E402
from api.settings import Settings  # noqa: E402
from domain.actors import OPERATOR, Actor  # noqa: E402
from domain.application.ingestion import Folder  # noqa: E402
from tests.integration.dovecot import Dovecot, is_installed  # noqa: E402

CHUNK = 200
ADMIN = Actor("admin", UUID(int=1))


def email(n: int) -> bytes:
    """Varied, realistic mail: one in ten answers an earlier one, one in ten has a PDF."""
    thread = f"In-Reply-To: <m{n - 7}@customer.test>\r\n" if n % 10 == 3 and n > 7 else ""
    head = (
        f"From: Customer {n % 97} <customer{n % 97}@example.test>\r\n"
        "To: Support <support@acme.test>\r\n"
        f"Subject: Order {n}: =?utf-8?q?Lieferung_f=C3=BCr?= you\r\n"
        f"Message-ID: <m{n}@customer.test>\r\n{thread}Date: Mon, 02 Mar 2026 09:00:00 +0000\r\n"
        "MIME-Version: 1.0\r\n"
    )
    text = f"Hello,\r\n\r\nabout order {n}: " + "the parcel has not arrived yet. " * 20 + "\r\n"
    if n % 10 != 5:
        return (head + "Content-Type: text/plain; charset=utf-8\r\n\r\n" + text).encode()
    return (
        head + 'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
        "Content-Type: text/plain; charset=utf-8\r\n\r\n" + text + "--b\r\n"
        "Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n"
        f'Content-Disposition: attachment; filename="invoice-{n}.pdf"\r\n\r\n'
        + "JVBERi0xLjQK" * 60 + "\r\n--b--\r\n"
    ).encode()


def load(server: Dovecot, user: str, count: int) -> float:
    """MULTIAPPENDs the emails, 250 per command; returns emails per second."""
    client = server.client(user)
    started = time.perf_counter()
    for start in range(0, count, 250):
        client.multiappend("INBOX", [email(n) for n in range(start, min(count, start + 250))])
    elapsed = time.perf_counter() - started
    client.logout()
    return count / elapsed


def fetch_and_parse(server: Dovecot, user: str) -> tuple[float, int]:
    client = server.client(user)
    client.select_folder("INBOX", readonly=True)
    started = time.perf_counter()
    uids = client.search(["ALL"])
    for start in range(0, len(uids), CHUNK):
        fetched = client.fetch(uids[start : start + CHUNK], ["BODY.PEEK[]", "INTERNALDATE"])
        for data in fetched.values():
            parse_message(data[b"BODY[]"], ParseLimits())
    elapsed = time.perf_counter() - started
    client.logout()
    return len(uids) / elapsed, max(uids)


def raw_store(url: str, schema: str, count: int) -> float:
    """Emails per second when each costs 4 rows of about an event's size, 200 emails a commit."""
    table = f'"{schema}".raw_events'
    state = b"x" * 600
    with psycopg.connect(url) as conn:
        conn.execute(
            f"CREATE TABLE {table} (originator_id uuid, originator_version bigint, "
            "topic text, state bytea, notification_id bigserial, "
            "PRIMARY KEY (originator_id, originator_version))"
        )
        conn.commit()
        started = time.perf_counter()
        with conn.cursor() as cursor:
            for _ in range(0, count, CHUNK):
                rows = [(uuid4(), 1, "topic", state) for _ in range(CHUNK * 4)]
                cursor.executemany(
                    f"INSERT INTO {table} (originator_id, originator_version, topic, state) "
                    "VALUES (%s, %s, %s, %s)",
                    rows,
                )
                conn.commit()
        return count / (time.perf_counter() - started)


def company_with_mailbox(settings: Settings, server: Dovecot, user: str) -> Folder:
    services = build(settings)
    app, now = services.app, datetime.now(UTC)
    company_id, queue_id, mailbox_id = uuid4(), uuid4(), uuid4()
    app.create_company(
        company_id, name="Bench", timezone="UTC", open_limit=1_000_000, by=OPERATOR, at=now
    )
    app.create_queue(queue_id, company_id, name="Support", priority=1, by=ADMIN, at=now)
    imap = {
        "host": "127.0.0.1",
        "port": server.imaps_port,
        "tls": "implicit",
        "ca_file": str(server.ca_file),
        "username": user,
        "password": services.secrets.seal(server.password),
        "folders": ["INBOX"],
        "poll_seconds": 5,
    }
    app.add_mailbox(
        company_id,
        mailbox_id,
        address="support@acme.test",
        default_queue_id=queue_id,
        settings={"allow_plaintext": False, "imap": imap, "smtp": None},
        by=ADMIN,
        at=now,
    )
    services.close()
    return Folder(company_id, mailbox_id, "INBOX", 0)


def spawn(command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def peak_memory_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def end_to_end(
    settings: Settings, env: dict[str, str], folder: Folder, last_uid: int, projections: bool
) -> dict[str, Any]:
    inboxflow = str(Path(sys.executable).parent / "inboxflow")
    projector = spawn([inboxflow, "project"], env) if projections else None
    worker = spawn([sys.executable, "-c", "from api.workers.ingest import main; from api.settings "
                    "import Settings; main(Settings.from_env())"], env)  # fmt: skip
    try:
        assert worker.stdout is not None
        if worker.stdout.readline().strip() != b"ingesting":
            raise RuntimeError(worker.stderr.read().decode() if worker.stderr else "no start")
        started = time.perf_counter()
        services = build(settings)
        while (c := services.app.checkpoint(folder)) is None or c.last_uid < last_uid:
            if worker.poll() is not None:
                raise RuntimeError(f"the worker exited: {worker.stderr.read().decode()}")  # type: ignore[union-attr]
            time.sleep(0.02)
        elapsed = time.perf_counter() - started
        services.close()
        return {
            "seconds": elapsed,
            "emails_per_second": last_uid / elapsed,
            "peak_memory_mib": peak_memory_mib(worker.pid),
        }
    finally:
        for process in (worker, projector):
            if process is not None:
                process.terminate()
                process.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--with-projections", action="store_true")
    args = parser.parse_args()
    if problem := postgres_problem(DEFAULT_PG_URL):
        sys.exit(f"PostgreSQL is needed: {problem}")
    if not is_installed():
        sys.exit("Dovecot is needed: apt-get install dovecot-imapd")
    server = Dovecot()
    server.start()
    data_dir = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    try:
        with fresh_schema(DEFAULT_PG_URL, "bench_ingest") as schema:
            results = run(server, data_dir, schema, args.messages, args.with_projections)
    finally:
        server.close()
    report(results)


def run(
    server: Dovecot, data_dir: Path, schema: str, count: int, projections: bool
) -> dict[str, Any]:
    user = f"bench{uuid4().hex[:8]}@acme.test"
    appended = load(server, user, count)
    env_settings = {
        "INBOXFLOW_DATA_DIR": str(data_dir),
        "INBOXFLOW_DATABASE_URL": DEFAULT_PG_URL,
        "INBOXFLOW_DATABASE_SCHEMA": schema,
        "INBOXFLOW_RUN_WORKERS": "false",
        "INBOXFLOW_LOG_LEVEL": "WARNING",
    }
    settings = Settings.from_env(env_settings)
    migrate(settings)
    folder = company_with_mailbox(settings, server, user)
    parsed, last_uid = fetch_and_parse(server, user)
    stored = raw_store(DEFAULT_PG_URL, schema, count)
    env = {k: v for k, v in os.environ.items() if not k.startswith("INBOXFLOW_")}
    env.update({**env_settings, "PYTHONPATH": str(ROOT)})
    e2e = end_to_end(settings, env, folder, last_uid, projections)
    return {
        "machine": machine(),
        "messages": count,
        "with_projections": projections,
        "append_per_second": appended,
        "fetch_parse_per_second": parsed,
        "raw_store_emails_per_second": stored,
        "end_to_end": e2e,
    }


def report(results: dict[str, Any]) -> None:
    e2e = results["end_to_end"]
    rate = e2e["emails_per_second"]
    rows = [
        ["end to end: APPENDed → routed interactions", fmt(rate), "1.00"],
        ["fetch + parse alone (no store)", fmt(results["fetch_parse_per_second"]),
         fmt(rate / results["fetch_parse_per_second"], 2)],
        ["raw store append (4 rows/email, 200/commit)", fmt(results["raw_store_emails_per_second"]),
         fmt(rate / results["raw_store_emails_per_second"], 2)],
        ["(loading: MULTIAPPEND)", fmt(results["append_per_second"]), "-"],
    ]  # fmt: skip
    print(f"\n{results['messages']} emails, PostgreSQL + Dovecot on loopback, "
          f"projections {'running' if results['with_projections'] else 'not running'}")  # fmt: skip
    print(markdown_table(["measure", "emails/s", "end to end ÷ this"], rows))
    print(f"\nworker: {e2e['seconds']:.1f} s, peak memory {e2e['peak_memory_mib']:.0f} MiB")
    name = "ingest-projections" if results["with_projections"] else "ingest"
    print(f"written to {write_json(name, results)}")


if __name__ == "__main__":
    main()
