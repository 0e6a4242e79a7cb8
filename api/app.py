"""The FastAPI application: routes, problem handlers, lifespan around the services."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from api import distribution, limits, logs, openapi, permissions, problems
from api.bootstrap import Services
from api.instrumentation import ScrapeGauges, instrument
from api.routes import (
    agents,
    attachments,
    audit,
    companies,
    contacts,
    health,
    interactions,
    lists,
    mail,
    mailboxes,
    quarantine,
    queries,
    reports,
    transcripts,
    users,
)


def create_app(services: Services) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.services = services
        try:
            yield
        finally:
            scrape_gauges.close()
            services.close()

    app = FastAPI(
        title="inboxflow",
        version="1",
        lifespan=lifespan,
        dependencies=[  # who may call what: api/permissions.py; then the ids to log
            Depends(permissions.authorize),
            Depends(logs.bind_route_ids),
        ],
    )
    app.state.services = services
    instrument(services.app)  # commands and events appended, counted for /metrics
    scrape_gauges = app.state.scrape_gauges = ScrapeGauges(services)
    problems.install(app)
    openapi.install(app)  # the document completed with problems, security, links
    for module in (
        companies,
        users,
        mailboxes,
        agents,
        interactions,
        lists,
        queries,
        contacts,
        mail,
        quarantine,
        attachments,
        transcripts,
        audit,
        reports,
        health,
    ):
        app.include_router(module.router)
    distribution.install(app, services.distribution)
    permissions.check_declared(app)
    limits.install(app, services)
    app.add_middleware(logs.RequestLog)  # outermost: request id, HTTP metrics, access line
    return app
