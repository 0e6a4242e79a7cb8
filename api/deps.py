"""Dependencies shared by routes: the services, the caller, the clock."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from api.auth import Principal, authenticate
from api.bootstrap import Services
from api.problems import ApiProblem
from domain.errors import InvalidInput


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_principal(
    request: Request,
    services: ServicesDep,
    authorization: Annotated[str | None, Header()] = None,
) -> Principal:
    """The caller `api.permissions.authorize` already authenticated, else from the header."""
    principal = getattr(request.state, "principal", None)
    if isinstance(principal, Principal):
        return principal
    return authenticate(services, authorization)


CurrentUser = Annotated[Principal, Depends(get_principal)]


def await_position(services: Services, position: int, timeout: float = 5.0) -> None:
    """Read-your-writes: wait until every projection has processed `position`.

    A position beyond the log's head names no write the caller saw: refused at once (422)
    rather than waited for."""
    if position <= 0 or services.read.wait(position, timeout=0):
        return
    head = services.app.recorder.max_notification_id() or 0
    if position > head:
        raise InvalidInput(f"min_position {position} is beyond the log's newest position {head}")
    if not services.read.wait(position, timeout=timeout):
        raise ApiProblem(
            503,
            "projection-lagging",
            f"the read models have not reached position {position} yet",
            retry_after=1,
        )
