"""Logs: plain text for a terminal, or one JSON object per line for a log pipeline.

`configure_logging(settings)` picks the format (`INBOXFLOW_LOG_FORMAT=text|json`) and the level
(`INBOXFLOW_LOG_LEVEL`). `RequestLog`, the outermost middleware of the API, gives each request
an id (a short safe `X-Request-ID` it was sent, else a new one) and answers with it, keeps it in
a context variable that every log line of the request carries, counts and times the request
(api/metrics.py) and writes one access line: method, route template, status, duration, ids.
Never a raw path, a query string, a header or a body: tokens travel in those.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from fastapi import Request
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.metrics import METRICS
from api.problems import problem
from api.settings import Settings

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
interaction_id_var: ContextVar[str | None] = ContextVar("interaction_id", default=None)
company_id_var: ContextVar[str | None] = ContextVar("company_id", default=None)
CONTEXT = (
    ("request_id", request_id_var),
    ("interaction_id", interaction_id_var),
    ("company_id", company_id_var),
)
SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_RECORD_FIELDS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
_NOT_LOGGED = _RECORD_FIELDS | {"ts", "level", "logger", "msg", "color_message"}  # uvicorn's ANSI
access_log = logging.getLogger("inboxflow.access")


def request_id_from(header: str | None) -> str:
    """The caller's id when it is a short safe token, else a new one."""
    if header is not None and SAFE_REQUEST_ID.fullmatch(header):
        return header
    return uuid4().hex


def route_ids(path_params: dict[str, Any]) -> dict[str, str]:
    """The interaction and company a route names, when they are ids (never other path text)."""
    found = {}
    for key in ("interaction_id", "company_id"):
        try:
            found[key] = str(UUID(str(path_params[key])))
        except (KeyError, ValueError):
            continue
    return found


def _context() -> dict[str, str]:
    return {key: value for key, var in CONTEXT if (value := var.get()) is not None}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, the ids known, then `extra` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(_context())
        for key, value in vars(record).items():
            if key not in _NOT_LOGGED:
                entry[key] = value  # `extra`: may name the interaction a worker handles
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """The usual line, with the request's ids at its end when there is a request."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (the base's name)
        line = super().formatMessage(record)
        ids = " ".join(f"{key}={value}" for key, value in _context().items())
        return f"{line} [{ids}]" if ids else line


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """Ours, so that configuring again replaces it and leaves other handlers alone."""


def configure_logging(settings: Settings) -> logging.Handler:
    """Root logging to stderr in the chosen format and level. Uvicorn's own loggers pass
    through it: run uvicorn with `log_config=None` and `access_log=False` (`RequestLog` writes
    the access lines, without query strings)."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _Handler)]:
        root.removeHandler(handler)
    handler = _Handler(sys.stderr)
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
    return handler


async def bind_route_ids(request: Request) -> None:
    """A dependency of every route: the interaction and company the request is about join the
    log context. Async, so that it sets them in the request's own context."""
    ids = route_ids(request.path_params)
    if "interaction_id" in ids:
        interaction_id_var.set(ids["interaction_id"])
    principal = getattr(request.state, "principal", None)
    company_id = ids.get("company_id") or getattr(principal, "company_id", None)
    if company_id is not None:
        company_id_var.set(str(company_id))


class RequestLog:
    """ASGI middleware: request id, HTTP metrics and the access line of every request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(Headers(scope=scope).get("x-request-id"))
        tokens = [
            (request_id_var, request_id_var.set(request_id)),
            (interaction_id_var, interaction_id_var.set(None)),
            (company_id_var, company_id_var.set(None)),
        ]
        started, status = time.perf_counter(), 500
        answered: float | None = None  # when the response started

        async def send_with_id(message: Message) -> None:
            nonlocal status, answered
            if message["type"] == "http.response.start":
                status, answered = message["status"], time.perf_counter()
                MutableHeaders(scope=message)["X-Request-ID"] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            if answered is None:  # the client still learns the id of what failed
                failed = problem(500, "internal-error", "the server failed; the error was logged")
                await failed(scope, receive, send_with_id)
            self._finished(scope, status, started, answered)
            raise  # the error handler logs it, with the request id still in context
        self._finished(scope, status, started, answered)
        for var, token in reversed(tokens):
            var.reset(token)

    def _finished(self, scope: Scope, status: int, started: float, answered: float | None) -> None:
        """The histogram times the answer until it starts (an event stream lasts for hours);
        the access line has the whole duration."""
        finished = time.perf_counter()
        elapsed = finished - started
        method = scope["method"] if scope["method"] in METHODS else "OTHER"
        route = getattr(scope.get("route"), "path", None) or "unmatched"
        to_answer = (answered or finished) - started
        METRICS.observe("inboxflow_http_request_seconds", to_answer, method=method, route=route)
        METRICS.inc("inboxflow_http_requests_total", method=method, route=route, status=str(status))
        duration_ms = round(elapsed * 1000, 1)
        # the route's ids even when the request was refused before `bind_route_ids` ran
        ids = route_ids(scope.get("path_params") or {})
        access_log.info(
            "%s %s %s %.1f ms",
            method,
            route,
            status,
            duration_ms,
            extra={
                **ids,
                "method": method,
                "route": route,
                "status": status,
                "duration_ms": duration_ms,
            },
        )
