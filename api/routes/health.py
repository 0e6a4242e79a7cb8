"""Liveness, readiness and metrics."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as ProbeTimeout
from time import monotonic
from typing import Any, TypeVar

import redis
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from api.bootstrap import Services
from api.deps import ServicesDep
from api.instrumentation import ScrapeGauges
from api.metrics import CONTENT_TYPE, METRICS
from api.problems import problem

router = APIRouter(tags=["health"])
log = logging.getLogger(__name__)

PROBE_TIMEOUT = 2.0  # seconds for all of /readyz's checks together
T = TypeVar("T")
# Probes run here so that a database that stopped answering costs /readyz its timeout, not a
# hung request; a stuck probe holds one thread, and the probes after it time out as they should.
_probes = ThreadPoolExecutor(4, thread_name_prefix="readyz")


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


def _probe(check: Callable[[], T], deadline: float) -> T:
    return _probes.submit(check).result(timeout=max(0.0, deadline - monotonic()))


def _failure(error: BaseException) -> str:
    """What a public endpoint may say: the kind of failure, not hosts, users or SQL."""
    if isinstance(error, ProbeTimeout):
        return f"no answer within {PROBE_TIMEOUT:g} s"
    return type(error).__name__


def _ping_redis(url: str) -> None:
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
    finally:
        client.close()


def readiness(services: Services) -> dict[str, dict[str, Any]]:
    """Each check's result; `ok` false marks the failing ones."""
    deadline = monotonic() + PROBE_TIMEOUT
    checks: dict[str, dict[str, Any]] = {}
    head: int | None = None
    try:
        head = _probe(lambda: services.app.recorder.max_notification_id() or 0, deadline)
        checks["database"] = {"ok": True, "head": head}
    except Exception as error:
        log.warning("readiness: the database does not answer: %r", error)
        checks["database"] = {"ok": False, "error": _failure(error)}
    if services.settings.redis_url:
        url = services.settings.redis_url
        try:
            _probe(lambda: _ping_redis(url), deadline)
            checks["redis"] = {"ok": True}
        except Exception as error:
            log.warning("readiness: Redis does not answer: %r", error)
            checks["redis"] = {"ok": False, "error": _failure(error)}
    checks["projections"] = _projections(services, head, deadline)
    return checks


def _projections(services: Services, head: int | None, deadline: float) -> dict[str, Any]:
    max_lag = services.settings.ready_max_lag
    if head is None:
        return {"ok": False, "error": "not checked: the database does not answer"}
    position = head
    try:
        lags = _probe(lambda: services.read.lags(position), deadline)
    except Exception as error:
        return {"ok": False, "error": _failure(error)}
    stopped = {name: "stopped on an error" for name in services.read.errors()}
    lagging = {name: lag for name, lag in lags.items() if lag > max_lag}
    return {
        "ok": not stopped and not lagging,
        "max_lag": max_lag,
        "lag": lags,
        **({"stopped": stopped} if stopped else {}),
        **({"lagging": lagging} if lagging else {}),
    }


@router.get("/readyz", responses={503: {"description": "not ready: the failing checks"}})
def readyz(services: ServicesDep) -> JSONResponse:
    """Ready to serve: 200, or 503 with problem+json naming the failing checks.

    - `database`: the event store answers a cheap query (the log's newest position) within
      2 s; `head` is that position.
    - `redis` (only when `INBOXFLOW_REDIS_URL` is set): Redis answers PING within 1 s.
    - `projections`: no projection of this process stopped on an error (`stopped`), and each
      is at most `INBOXFLOW_READY_MAX_LAG` log positions (default 1000) behind the head
      (`lag` per projection, `lagging` for those over it). Not checked without the database.

    Errors say what failed, never hosts, users or SQL: the details are in the server's log.
    """
    checks = readiness(services)
    failing = [name for name, check in checks.items() if not check["ok"]]
    if failing:
        detail = f"not ready: {', '.join(failing)}"
        return problem(503, "not-ready", detail, failing=failing, checks=checks)
    return JSONResponse({"status": "ready", "checks": checks})


@router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE: {}}}})
def metrics(request: Request) -> Response:
    """Prometheus text format (0.0.4): every `inboxflow_*` family of this process, with the
    gauges the database answers computed now (api/metrics.py lists them)."""
    gauges: ScrapeGauges = request.app.state.scrape_gauges
    gauges.refresh()
    return Response(METRICS.render(), media_type=CONTENT_TYPE)
