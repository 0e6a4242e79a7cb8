"""The FastAPI application: routes, problem handlers, lifespan around the services."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response

from api import distribution, problems
from api.bootstrap import Services
from api.metrics import METRICS
from api.routes import (
    agents,
    attachments,
    companies,
    health,
    interactions,
    mail,
    mailboxes,
    quarantine,
    queries,
)


def create_app(services: Services) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.services = services
        try:
            yield
        finally:
            services.close()

    app = FastAPI(title="inboxflow", version="1", lifespan=lifespan)
    app.state.services = services
    problems.install(app)
    for module in (
        companies,
        mailboxes,
        agents,
        interactions,
        queries,
        mail,
        quarantine,
        attachments,
        health,
    ):
        app.include_router(module.router)
    distribution.install(app, services.distribution)

    @app.middleware("http")
    async def measure(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        METRICS.observe(
            "inboxflow_http_request_seconds",
            time.perf_counter() - started,
            method=request.method,
            route=path,
        )
        METRICS.inc(
            "inboxflow_http_requests_total",
            method=request.method,
            route=path,
            status=str(response.status_code),
        )
        return response

    return app
