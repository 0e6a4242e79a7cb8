"""The ingestion worker as a process of its own, for the crash test.

`python -m tests.integration.ingest_worker SETTINGS_JSON CHUNK` runs `inboxflow ingest`'s
ingester with small chunks. It prints `ready` once started, and `committed <last uid>` after
each commit; then it waits a moment before setting `\\Seen`, so that a kill can land between the
two. SIGTERM stops it gracefully (exit 0).
"""

from __future__ import annotations

import signal
import sys
import threading
import time

from api.bootstrap import build
from api.settings import Settings
from api.workers.ingest import Ingester
from api.workers.ingest_mailbox import IngestOptions
from domain.application.ingestion import Folder, Ingested

WINDOW = 0.03  # seconds between a commit and its `\Seen`


def report(folder: Folder, done: Ingested) -> None:
    print(f"committed {done.last_uid}", flush=True)
    time.sleep(WINDOW)


def main() -> None:
    settings = Settings.model_validate_json(sys.argv[1])
    options = IngestOptions(
        chunk_messages=int(sys.argv[2]), refresh_seconds=0.05, first_backoff=0.1, timeout=10
    )
    services = build(settings)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    ingester = Ingester(services, services.mailbox_status, options, on_committed=report)
    ingester.start()
    print("ready", flush=True)
    stopping.wait()
    ingester.stop()
    services.close()


if __name__ == "__main__":
    main()
