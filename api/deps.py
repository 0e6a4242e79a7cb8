"""Dependencies shared by routes: the services, the caller, the clock."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from api.auth import Principal, authenticate
from api.bootstrap import Services
from api.problems import ApiProblem


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_principal(
    services: ServicesDep, authorization: Annotated[str | None, Header()] = None
) -> Principal:
    return authenticate(services, authorization)


CurrentUser = Annotated[Principal, Depends(get_principal)]


def await_position(services: Services, position: int, timeout: float = 5.0) -> None:
    """Read-your-writes: wait until every projection has processed `position`."""
    if position > 0 and not services.read.wait(position, timeout=timeout):
        raise ApiProblem(
            503,
            "projection-lagging",
            f"the read models have not reached position {position} yet",
            retry_after=1,
        )
