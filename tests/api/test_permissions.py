"""The declared permission table: every route has a line, and each line is what is enforced."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from api.permissions import (
    OPERATOR,
    PUBLIC,
    ROLES,
    TABLE,
    UndeclaredRoutes,
    api_routes,
    check_declared,
)
from tests.api.conftest import OPERATOR_TOKEN
from tests.api.scenario import bearer, company, ok
from tests.fakes import FixedClock

ID = "00000000-0000-0000-0000-000000000000"
FORBIDDEN = "/problems/forbidden"
UNAUTHENTICATED = {"/problems/unauthenticated", "/problems/invalid-token"}


def operations(app: Any) -> set[tuple[str, str]]:
    """The app's operations, walked from `app.routes` (API routes only)."""
    return {
        (method, path) for method, path, route in api_routes(app) if isinstance(route, APIRoute)
    }


def guarded(app: Any) -> list[tuple[tuple[str, str], frozenset[str]]]:
    """The app's non-public operations with the roles the table allows."""
    return sorted((key, TABLE[key]) for key in operations(app) if TABLE[key] != PUBLIC)


def url(path: str) -> str:
    return re.sub(r"\{[^}]+\}", ID, path)


def log_head(client: TestClient) -> int:
    return int(client.app.state.services.app.recorder.max_notification_id() or 0)  # type: ignore[attr-defined]


def test_every_route_of_the_app_has_a_line_in_the_table(client: TestClient) -> None:
    app = client.app
    undeclared = operations(app) - set(TABLE)
    assert not undeclared
    documented = {
        (method.upper(), path)
        for path, methods in app.openapi()["paths"].items()  # type: ignore[attr-defined]
        for method in methods
    }
    assert documented <= operations(app)
    assert all(access <= {*ROLES} or access == PUBLIC for access in TABLE.values())


def test_an_app_with_an_undeclared_route_does_not_start() -> None:
    app = FastAPI()

    @app.get("/v1/undeclared")
    def undeclared() -> None: ...

    with pytest.raises(UndeclaredRoutes, match="GET /v1/undeclared has no line"):
        check_declared(app)
    prefixed, router = FastAPI(), APIRouter()
    router.add_api_route("/healthz", undeclared)
    prefixed.include_router(router, prefix="/v2")
    with pytest.raises(UndeclaredRoutes, match="GET /v2/healthz"):
        check_declared(prefixed)


def test_the_operator_only_manages_companies_and_their_first_admins() -> None:
    assert {key for key, access in TABLE.items() if OPERATOR in access} == {
        ("POST", "/v1/companies"),
        ("GET", "/v1/companies/{company_id}"),
        ("POST", "/v1/companies/{company_id}/users"),
    }


def test_a_role_outside_the_table_gets_403_and_nothing_is_written(client: TestClient) -> None:
    acme = company(client)
    callers = {
        OPERATOR: bearer(OPERATOR_TOKEN),
        "admin": bearer(acme.admin),
        "supervisor": acme.token("supervisor"),
        "agent": acme.token("A"),
    }
    refusals = 0
    for (method, path), access in guarded(client.app):
        for role, headers in callers.items():
            before = log_head(client)
            response = client.request(method, url(path), headers=headers)
            if role in access:  # the handler may refuse the dummy ids, the table does not
                refused = response.status_code == 403 and response.json()["type"] == FORBIDDEN
                assert not refused, (method, path, role)
                continue
            assert response.status_code == 403, (method, path, role, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json()["type"] == FORBIDDEN
            assert log_head(client) == before, (method, path, role)
            refusals += 1
    assert refusals > 100


def test_missing_malformed_revoked_and_expired_tokens_get_401_everywhere(
    client: TestClient, clock: FixedClock
) -> None:
    acme = company(client)
    tokens = f"/v1/companies/{acme.id}/users/{acme.agent_id('A')}/tokens"
    revoked = ok(client.post(tokens, headers=bearer(acme.admin)), 201)
    assert client.delete(f"{tokens}/{revoked['id']}", headers=bearer(acme.admin)).status_code == 204
    expiring = {"expires_at": (clock.now + timedelta(minutes=5)).isoformat()}
    expired = ok(client.post(tokens, headers=bearer(acme.admin), json=expiring), 201)
    clock.advance(minutes=5)
    callers: dict[str, dict[str, str]] = {
        "missing": {},
        "scheme only": {"Authorization": "Bearer"},
        "empty": {"Authorization": "Bearer  "},
        "basic": {"Authorization": "Basic x"},
        "garbage": {"Authorization": "garbage"},
        "two words": {"Authorization": f"Bearer {acme.admin} extra"},
        "unknown": bearer("ifx_unknown"),
        "revoked": bearer(revoked["token"]),
        "expired": bearer(expired["token"]),
    }
    before = log_head(client)
    for (method, path), _ in guarded(client.app):
        for name, headers in callers.items():
            response = client.request(method, url(path), headers=headers)
            assert response.status_code == 401, (method, path, name, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            assert response.headers["www-authenticate"] == "Bearer"
            assert response.json()["type"] in UNAUTHENTICATED
    assert log_head(client) == before


def test_public_routes_answer_without_a_token(client: TestClient) -> None:
    for path in ("/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"):
        assert client.get(path).status_code in (200, 503), path  # /readyz: 503 while lagging


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(header=st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=80))
def test_any_other_authorization_header_gets_401(client: TestClient, header: str) -> None:
    assume(header != OPERATOR_TOKEN)
    for value in (header, f"Bearer {header}", f"bearer {header} {header}"):
        response = client.get(f"/v1/companies/{ID}", headers={"Authorization": value})
        assert response.status_code == 401, value
        assert response.json()["type"] in UNAUTHENTICATED
