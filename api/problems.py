"""RFC 9457 problem details: every error leaves the API through here, with a stable `type`."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from eventsourcing.persistence import IntegrityError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from domain.errors import DomainError, InvalidInput, NotFound, OpenLimitReached, RuleViolated
from projections.search_query import InvalidCursor

log = logging.getLogger(__name__)
PROBLEM = "application/problem+json"


class ApiProblem(Exception):
    """A refusal decided at the HTTP edge (authentication, permission, media type, size)."""

    def __init__(self, status: int, code: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.extra = status, code, detail, extra


def problem(
    status: int, code: str, detail: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    body = {
        "type": f"/problems/{code}",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def status_of(error: DomainError) -> int:
    if isinstance(error, NotFound):
        return 404
    if isinstance(error, OpenLimitReached):
        return 429
    if isinstance(error, InvalidInput):
        return 422
    if isinstance(error, RuleViolated):
        return 409
    return 400


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def refused(request: Request, exc: DomainError) -> JSONResponse:
        headers = {"Retry-After": "30"} if isinstance(exc, OpenLimitReached) else None
        return problem(status_of(exc), exc.code, str(exc), headers)

    @app.exception_handler(ApiProblem)
    async def edge(request: Request, exc: ApiProblem) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return problem(exc.status, exc.code, exc.detail, headers, **exc.extra)

    @app.exception_handler(InvalidCursor)
    async def bad_cursor(request: Request, exc: InvalidCursor) -> JSONResponse:
        return problem(422, "invalid-cursor", str(exc))

    @app.exception_handler(IntegrityError)
    async def raced(request: Request, exc: IntegrityError) -> JSONResponse:
        return problem(409, "concurrent-update", "another change was saved first; retry")

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type")}
            for e in exc.errors()
        ]
        return problem(422, "validation-error", "the request is not valid", errors=errors)

    @app.exception_handler(HTTPException)
    async def http(request: Request, exc: HTTPException) -> JSONResponse:
        code = HTTPStatus(exc.status_code).phrase.lower().replace(" ", "-")
        return problem(exc.status_code, code, str(exc.detail), dict(exc.headers or {}))

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(500, "internal-error", "the server failed; the error was logged")
