"""Who may call which route: one declared table, enforced once for the whole app.

Every route of the app has exactly one line in `TABLE`: (method, path template) → the roles
allowed. `authorize` runs before every route's own dependencies (it is installed on the app),
answers 401 for a missing or invalid token and 403 `forbidden` for a role the table does not
list. A route missing from the table stops the app at startup (`check_declared`).

The table only says which roles may try; handlers still scope to the caller's company (another
company's resource answers 404) and keep their finer rules (an agent acts only for themselves,
an owner check in the domain).
"""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import FastAPI, Request
from fastapi.routing import APIRoute

from api.auth import authenticate
from api.problems import ApiProblem

OPERATOR, ADMIN, SUPERVISOR, AGENT = "operator", "admin", "supervisor", "agent"
ROLES = (OPERATOR, ADMIN, SUPERVISOR, AGENT)
PUBLIC = frozenset({"public"})

Access = frozenset[str]
OPERATOR_ONLY: Access = frozenset({OPERATOR})
ADMINS: Access = frozenset({ADMIN})
MANAGERS: Access = frozenset({ADMIN, SUPERVISOR})
USERS: Access = frozenset({ADMIN, SUPERVISOR, AGENT})

COMPANY = "/v1/companies/{company_id}"
INTERACTION = "/v1/interactions/{interaction_id}"
AGENT_PATH = "/v1/agents/{agent_id}"

TABLE: dict[tuple[str, str], Access] = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    ("GET", "/docs"): PUBLIC,  # served by FastAPI itself, outside `authorize`
    ("GET", "/docs/oauth2-redirect"): PUBLIC,
    ("GET", "/redoc"): PUBLIC,
    ("GET", "/openapi.json"): PUBLIC,
    # companies and their configuration
    ("POST", "/v1/companies"): OPERATOR_ONLY,
    ("GET", COMPANY): OPERATOR_ONLY | USERS,
    ("POST", f"{COMPANY}/queues"): ADMINS,
    ("PUT", f"{COMPANY}/routing-rules"): ADMINS,
    ("PUT", f"{COMPANY}/open-limit"): ADMINS,
    ("PUT", f"{COMPANY}/dispositions"): ADMINS,
    ("PUT", f"{COMPANY}/substatuses"): ADMINS,
    ("GET", f"{COMPANY}/limits"): MANAGERS,
    ("GET", f"{COMPANY}/distribution"): MANAGERS,
    ("PUT", f"{COMPANY}/distribution"): ADMINS,
    ("POST", f"{COMPANY}/mailboxes"): ADMINS,
    ("GET", f"{COMPANY}/mailboxes"): MANAGERS,
    ("GET", f"{COMPANY}/mailboxes/{{mailbox_id}}"): MANAGERS,
    ("PUT", f"{COMPANY}/mailboxes/{{mailbox_id}}"): ADMINS,
    ("DELETE", f"{COMPANY}/mailboxes/{{mailbox_id}}"): ADMINS,
    ("GET", f"{COMPANY}/quarantine"): ADMINS,
    ("GET", f"{COMPANY}/quarantine/{{quarantine_id}}/raw"): ADMINS,
    ("POST", f"{COMPANY}/quarantine/{{quarantine_id}}/retry"): ADMINS,
    ("POST", f"{COMPANY}/inbound"): ADMINS,
    ("POST", f"{COMPANY}/outbound"): USERS,
    # users and their tokens (the operator registers a company's admins)
    ("POST", f"{COMPANY}/users"): OPERATOR_ONLY | ADMINS,
    ("GET", f"{COMPANY}/users"): ADMINS,
    ("GET", f"{COMPANY}/users/{{user_id}}"): ADMINS,
    ("PATCH", f"{COMPANY}/users/{{user_id}}"): ADMINS,
    ("POST", f"{COMPANY}/users/{{user_id}}/tokens"): USERS,
    ("GET", f"{COMPANY}/users/{{user_id}}/tokens"): USERS,
    ("DELETE", f"{COMPANY}/users/{{user_id}}/tokens/{{token_id}}"): USERS,
    # agents' presence and work
    ("GET", AGENT_PATH): USERS,
    ("GET", f"{AGENT_PATH}/inbox"): USERS,
    ("GET", f"{AGENT_PATH}/events"): USERS,
    ("POST", f"{AGENT_PATH}/login"): USERS,
    ("POST", f"{AGENT_PATH}/logout"): USERS,
    ("POST", f"{AGENT_PATH}/pause"): USERS,
    ("POST", f"{AGENT_PATH}/unpause"): USERS,
    ("POST", f"{AGENT_PATH}/call-started"): USERS,
    ("POST", f"{AGENT_PATH}/call-ended"): USERS,
    ("GET", "/v1/queues/{queue_id}/waiting"): USERS,
    ("GET", "/v1/queues/{queue_id}/agents"): MANAGERS,
    ("GET", "/v1/queues/{queue_id}/events"): MANAGERS,
    # interactions
    ("GET", "/v1/interactions"): USERS,
    ("POST", "/v1/interactions/search"): USERS,
    ("GET", INTERACTION): USERS,
    ("GET", f"{INTERACTION}/timeline"): USERS,
    ("GET", f"{INTERACTION}/messages"): USERS,
    ("GET", f"{INTERACTION}/attachments/{{blob}}"): USERS,
    ("GET", "/v1/messages/{message_id}/raw"): USERS,
    ("POST", f"{INTERACTION}/accept"): USERS,
    ("POST", f"{INTERACTION}/reject"): USERS,
    ("POST", f"{INTERACTION}/park"): USERS,
    ("POST", f"{INTERACTION}/resume"): USERS,
    ("POST", f"{INTERACTION}/reply"): USERS,
    ("POST", f"{INTERACTION}/forward"): USERS,
    ("POST", f"{INTERACTION}/transfer"): USERS,
    ("POST", f"{INTERACTION}/return"): USERS,
    ("POST", f"{INTERACTION}/notes"): USERS,
    ("PUT", f"{INTERACTION}/draft"): USERS,
    ("DELETE", f"{INTERACTION}/draft"): USERS,
    ("POST", f"{INTERACTION}/substatus"): USERS,
    ("POST", f"{INTERACTION}/tags"): USERS,
    ("POST", f"{INTERACTION}/mark-unread"): USERS,
    ("POST", f"{INTERACTION}/mark-read"): USERS,
    ("POST", f"{INTERACTION}/close"): USERS,
    ("POST", f"{INTERACTION}/reopen"): USERS,
    # contacts, transcripts, reports, audit log (from their handlers' own checks)
    ("GET", "/v1/contacts"): USERS,
    ("GET", "/v1/contacts/{contact_id}"): USERS,
    ("PATCH", "/v1/contacts/{contact_id}"): USERS,
    ("GET", "/v1/contacts/{contact_id}/journey"): USERS,
    ("GET", f"{INTERACTION}/transcript"): USERS,
    ("GET", f"{INTERACTION}/transcript.zip"): USERS,
    ("GET", f"{COMPANY}/reports/queues"): MANAGERS,
    ("GET", f"{COMPANY}/reports/agents"): MANAGERS,
    ("GET", f"{COMPANY}/reports/backlog"): MANAGERS,
    ("GET", f"{COMPANY}/reports/limit-history"): MANAGERS,
    ("GET", f"{COMPANY}/audit-log"): MANAGERS,
}


class UndeclaredRoutes(RuntimeError):
    """Routes of the app without a line in `TABLE`: nobody decided who may call them."""


def api_routes(app: FastAPI) -> Iterator[tuple[str, str, APIRoute]]:
    """Every (method, path template, route) the app serves through its own routes."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI before 0.165 keeps included routes flat in `app.routes`
        for route in app.routes:
            if isinstance(route, APIRoute):
                yield from ((method, route.path, route) for method in sorted(route.methods or ()))
        return
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute):
            path = context.path or route.path
            yield from ((method, path, route) for method in sorted(route.methods or ()))


def check_declared(app: FastAPI) -> None:
    """Refuses to start an app with a route the table does not declare."""
    problems = []
    for method, path, route in api_routes(app):
        if (method, path) not in TABLE:
            problems.append(f"{method} {path} has no line in api/permissions.py TABLE")
        elif path != route.path:  # `authorize` looks routes up by the route's own path
            problems.append(f"{method} {path} is included under a prefix; declare it without")
    if problems:
        raise UndeclaredRoutes("; ".join(problems))


def allowed(method: str, path: str, role: str) -> bool:
    access = TABLE.get((method, path), frozenset())
    return access == PUBLIC or role in access


def authorize(request: Request) -> None:
    """Authenticates the caller and checks their role against the table, before the route.

    The principal is kept on the request, so `CurrentUser` does not authenticate again.
    """
    path = getattr(request.scope.get("route"), "path", None)
    access = TABLE.get((request.method, str(path)))
    if access is None:  # `check_declared` keeps this from happening in a started app
        raise ApiProblem(500, "undeclared-route", "this route has no declared permissions")
    if access == PUBLIC:
        return
    principal = authenticate(request.app.state.services, request.headers.get("authorization"))
    if principal.role not in access:
        needed = " or ".join(sorted(access))
        raise ApiProblem(403, "forbidden", f"this action is for the roles {needed}")
    request.state.principal = principal
