"""Liveness, readiness and metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from api.deps import ServicesDep
from api.metrics import METRICS

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {}})
def readyz(services: ServicesDep, response: Response) -> dict[str, Any]:
    """The event store answers and the projections keep up."""
    head = services.app.recorder.max_notification_id() or 0
    lags = services.read.lags(head)
    errors = services.read.errors()
    ready = not errors and all(lag < 10_000 for lag in lags.values())
    if not ready:
        response.status_code = 503
    return {
        "status": "ready" if ready else "not-ready",
        "head": head,
        "lag": lags,
        "errors": errors,
    }


@router.get("/metrics", response_class=Response)
def metrics(services: ServicesDep) -> Response:
    """Prometheus text format."""
    head = services.app.recorder.max_notification_id() or 0
    METRICS.set_gauge("inboxflow_log_position", head)
    for name, lag in services.read.lags(head).items():
        METRICS.set_gauge("inboxflow_projection_lag", lag, projection=name)
    return Response(METRICS.render(), media_type="text/plain; version=0.0.4")
