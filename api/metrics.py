"""Prometheus metrics in the text exposition format 0.0.4: the families inboxflow exposes.

Every family is declared once in `FAMILIES` (type, help, label names), so a typo or a wrong
label fails where it is counted, and no label takes an unbounded value (ids of mailboxes, route
templates, event types: never raw paths). On the embedded default one process does everything
and `/metrics` shows it all. Separate worker processes count in their own registry and serve it
on `INBOXFLOW_METRICS_PORT` (`serve_metrics_if_configured`); gauges the database can answer
(outbox depth, projection lag, ingestion paused) are computed by the API when it is scraped
(`api/instrumentation.py`).
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from uuid import UUID

from api.settings import Settings
from domain.fetched import Ingested

log = logging.getLogger(__name__)

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
Labels = tuple[tuple[str, str], ...]
Kind = Literal["counter", "gauge", "histogram"]


@dataclass(frozen=True)
class Family:
    name: str
    kind: Kind
    help: str
    labels: tuple[str, ...] = ()


FAMILIES: tuple[Family, ...] = (
    Family(
        "inboxflow_commands_total",
        "counter",
        "Application commands run, by command and outcome: ok, conflict (a rule refused it "
        "for the state it found), refused (not found, invalid, over a limit) or error.",
        ("command", "outcome"),
    ),
    Family(
        "inboxflow_events_appended_total",
        "counter",
        "Events appended to the log, by event type.",
        ("type",),
    ),
    Family(
        "inboxflow_http_request_seconds",
        "histogram",
        "Time until the answer to an HTTP request starts, by method and route template.",
        ("method", "route"),
    ),
    Family(
        "inboxflow_http_requests_total",
        "counter",
        "HTTP requests answered, by method, route template and status.",
        ("method", "route", "status"),
    ),
    Family("inboxflow_log_position", "gauge", "The newest position of the event log."),
    Family(
        "inboxflow_projection_lag",
        "gauge",
        "How many log positions each projection is behind the log.",
        ("projection",),
    ),
    Family(
        "inboxflow_ingest_messages_total",
        "counter",
        "Emails fetched from each IMAP mailbox, by what recording them did (created, "
        "continued, threaded, bounced, duplicate, quarantined); their sum is every email fetched.",
        ("mailbox", "outcome"),
    ),
    Family(
        "inboxflow_ingest_paused",
        "gauge",
        "1 while ingestion of the mailbox pauses because its company is at its open limit.",
        ("mailbox",),
    ),
    Family("inboxflow_outbox_depth", "gauge", "Emails queued to send and not yet sent or failed."),
    Family(
        "inboxflow_send_failures_total",
        "counter",
        "Failed attempts to deliver an email over SMTP: temporary (tried again) or permanent.",
        ("reason",),
    ),
    Family("inboxflow_dispatch_offers_total", "counter", "Offers of waiting email to agents."),
    Family(
        "inboxflow_dispatch_expiries_total", "counter", "Offers that expired without an answer."
    ),
)


def escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


def _labels(labels: Labels, le: str | None = None) -> str:
    pairs = [*labels, *([("le", le)] if le is not None else [])]
    if not pairs:
        return ""
    return "{" + ",".join(f'{k}="{escape_label(v)}"' for k, v in pairs) + "}"


class Metrics:
    """Counters, gauges and latency histograms of the declared families; thread-safe."""

    def __init__(self, families: Iterable[Family] = FAMILIES) -> None:
        self.families = {family.name: family for family in families}
        self._lock = threading.Lock()
        self._series: dict[str, dict[Labels, float]] = {}
        self._histograms: dict[str, dict[Labels, list[float]]] = {}

    def _key(self, name: str, kind: Kind, labels: Mapping[str, str]) -> Labels:
        family = self.families.get(name)
        if family is None or family.kind != kind:
            raise KeyError(f"no {kind} {name} is declared")
        if set(labels) != set(family.labels):
            raise ValueError(f"{name} takes the labels {family.labels}, not {tuple(labels)}")
        return tuple((label, str(labels[label])) for label in family.labels)

    def inc(self, name: str, amount: float = 1, **labels: str) -> None:
        key = self._key(name, "counter", labels)
        with self._lock:
            series = self._series.setdefault(name, {})
            series[key] = series.get(key, 0) + amount

    def set_gauge(self, name: str, value: float, **labels: str) -> None:
        key = self._key(name, "gauge", labels)
        with self._lock:
            self._series.setdefault(name, {})[key] = value

    def replace_gauges(self, name: str, values: Iterable[tuple[Mapping[str, str], float]]) -> None:
        """The whole family at once: series not given (a mailbox removed) disappear."""
        series = {self._key(name, "gauge", labels): value for labels, value in values}
        with self._lock:
            self._series[name] = series

    def observe(self, name: str, seconds: float, **labels: str) -> None:
        key = self._key(name, "histogram", labels)
        with self._lock:
            row = self._histograms.setdefault(name, {}).setdefault(key, [0.0] * (len(BUCKETS) + 2))
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    row[i] += 1
            row[-2] += 1
            row[-1] += seconds

    def value(self, name: str, **labels: str) -> float:
        """A counter's or gauge's value now (0 when never set)."""
        family = self.families[name]
        key = self._key(name, family.kind, labels)
        with self._lock:
            return self._series.get(name, {}).get(key, 0.0)

    def render(self) -> str:
        lines: list[str] = []
        with self._lock:
            for name, family in sorted(self.families.items()):
                lines.append(f"# HELP {name} {escape_help(family.help)}")
                lines.append(f"# TYPE {name} {family.kind}")
                if family.kind == "histogram":
                    lines += self._histogram_lines(name)
                    continue
                series = self._series.get(name, {})
                if not series and not family.labels:
                    series = {(): 0.0}  # a plain counter or gauge exists from the start
                lines += [f"{name}{_labels(k)} {number(v)}" for k, v in sorted(series.items())]
        return "\n".join(lines) + "\n"

    def _histogram_lines(self, name: str) -> list[str]:
        lines: list[str] = []
        for key, row in sorted(self._histograms.get(name, {}).items()):
            for bound, count in zip(BUCKETS, row, strict=False):
                lines.append(f"{name}_bucket{_labels(key, repr(bound))} {number(count)}")
            lines.append(f"{name}_bucket{_labels(key, '+Inf')} {number(row[-2])}")
            lines.append(f"{name}_sum{_labels(key)} {number(row[-1])}")
            lines.append(f"{name}_count{_labels(key)} {number(row[-2])}")
        return lines


METRICS = Metrics()


# --- counted by the workers ---------------------------------------------------------------


def count_ingested(mailbox_id: UUID, done: Ingested) -> None:
    """What one recorded chunk of a mailbox did, email by email."""
    for outcome, count in done.outcomes.items():
        METRICS.inc(
            "inboxflow_ingest_messages_total", count, mailbox=str(mailbox_id), outcome=outcome
        )


def count_send_failure(temporary: bool) -> None:
    reason = "temporary" if temporary else "permanent"
    METRICS.inc("inboxflow_send_failures_total", reason=reason)


# --- a worker's own endpoint --------------------------------------------------------------


class _MetricsHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.split("?")[0] != "/metrics":
            self.send_error(404)
            return
        body = METRICS.render().encode()
        self.send_response(200)
        self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes are not worth a line each."""


def serve_metrics_if_configured(settings: Settings) -> ThreadingHTTPServer | None:
    """With `INBOXFLOW_METRICS_PORT`, serves this process's `/metrics` on `settings.host` and
    that port from a daemon thread; `shutdown()` the server returned to stop it."""
    if settings.metrics_port is None:
        return None
    server = ThreadingHTTPServer((settings.host, settings.metrics_port), _MetricsHandler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    host, port = server.server_address[:2]
    log.info("metrics on http://%s:%s/metrics", host, port, extra={"metrics_port": port})
    return server
