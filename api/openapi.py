"""The OpenAPI document, completed once from the tables that decide what the API answers.

FastAPI documents each route's success answer and its own validation error. Everything the
edge adds is documented here, for every operation at once, from the same sources that enforce
it: who may call (api/permissions.py `TABLE`: 401, 403; api/limits.py: 413 for bodies, 429
with `Retry-After` for user tokens), what the handlers raise (domain errors: 404 for ids in
the path, 409 for commands, 422 for parameters and bodies, api/problems.py renders them all as
`application/problem+json`; FastAPI answers 400 to a JSON body it cannot decode), and
read-your-writes (api/deps.py `await_position`: 503). The bearer token is a security scheme,
not the `authorization` header parameter FastAPI infers; bodies and answers that are not JSON
(raw email, attachments, event streams) are documented with their real media types.

Links (OpenAPI 3 `links`) name the main flows, so a client or a stateful test can chain them:
a created company, queue, mailbox, user or token, a received email's interaction and the
interaction a command answers with, each feed the operations on that resource.
"""

from __future__ import annotations

from collections.abc import Iterator
from copy import deepcopy
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI

from api.permissions import PUBLIC, TABLE
from api.problems import PROBLEM

Document = dict[str, Any]
Operation = dict[str, Any]
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details; members beyond the standard five are extensions.",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "description": "stable: `/problems/<code>`"},
        "title": {"type": "string", "description": "the HTTP status phrase"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string", "description": "what was refused, for a person"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "description": "validation errors: where (`loc`), what (`msg`) and its kind",
            "items": {
                "type": "object",
                "required": ["loc", "msg"],
                "properties": {
                    "loc": {"type": "array", "items": {"type": ["string", "integer"]}},
                    "msg": {"type": "string"},
                    "type": {"type": ["string", "null"]},
                },
            },
        },
        "quarantine_id": {
            "type": "string",
            "format": "uuid",
            "description": "an unparseable email was kept under this id",
        },
        "limit": {"type": "integer", "description": "the limit that was exceeded"},
        "per": {"type": "string", "enum": ["token", "company"]},
        "retry_after": {"type": "integer", "description": "seconds to wait before retrying"},
        "failing": {"type": "array", "items": {"type": "string"}},
        "checks": {"type": "object", "additionalProperties": {"type": "object"}},
    },
    "additionalProperties": True,
}

DESCRIPTIONS = {
    400: "The body could not be read as JSON text (e.g. it is not UTF-8).",
    401: "No bearer token, or one that is unknown, revoked or expired.",
    403: "The caller's role may not do this.",
    404: "No such resource, or not one the caller may see (another company's answers 404).",
    409: "The rules refuse the command in the current state, or another change was saved first.",
    413: "The request body is above its limit.",
    415: "The body is not of the media type this operation takes.",
    422: "The request is not valid: `errors` says where and why.",
    429: "Too many requests for the token or its company, or the company's open limit is "
    "reached: retry after `Retry-After` seconds.",
    503: "The read models have not reached `min_position` yet: retry shortly.",
}
HEADERS: dict[int, dict[str, Any]] = {  # sent with every answer of that status
    401: {"WWW-Authenticate": {"required": True, "schema": {"type": "string", "const": "Bearer"}}},
    429: {"Retry-After": {"required": True, "schema": {"type": "integer", "minimum": 1}}},
}
# Descriptions FastAPI writes itself, replaced by the ones above.
GENERATED_DESCRIPTIONS = {"Validation Error", "Additional Response"} | {
    s.phrase for s in HTTPStatus
}

INBOUND = ("post", "/v1/companies/{company_id}/inbound")
CONTACT_EDIT = ("patch", "/v1/contacts/{contact_id}")
READINESS = ("get", "/readyz")
QUERIES = {("post", "/v1/interactions/search")}  # a POST that changes nothing
# Refusals only one operation makes, beyond those derived for every operation.
EXTRA_PROBLEMS: dict[tuple[str, str], set[int]] = {
    INBOUND: {415, 429},  # raw email only; a new interaction above the company's open limit
    CONTACT_EDIT: {503},  # waits for its own write to reach the contacts view
    READINESS: {503},
}
IGNORED_HEADERS = {"authorization", "content-type", "accept"}
BINARY = {"type": "string", "format": "binary"}
TEXT = {"type": "string"}
# Bodies and answers that are not JSON, with their real media types.
REQUEST_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    INBOUND: {"required": True, "content": {"message/rfc822": {"schema": BINARY}}},
}
SUCCESS_CONTENT: dict[tuple[str, str], dict[str, Any]] = {
    # an attachment is served with the content type its email gave it
    ("get", "/v1/interactions/{interaction_id}/attachments/{blob}"): {"*/*": {"schema": BINARY}},
    ("get", "/v1/agents/{agent_id}/events"): {"text/event-stream": {"schema": TEXT}},
    ("get", "/v1/queues/{queue_id}/events"): {"text/event-stream": {"schema": TEXT}},
}


def install(app: FastAPI) -> None:
    """Serves the completed document: built on first use, like FastAPI's own."""
    generate = app.openapi

    def openapi() -> Document:
        if app.openapi_schema is None:
            app.openapi_schema = complete(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def complete(document: Document) -> Document:
    components = document.setdefault("components", {})
    components.setdefault("schemas", {})["Problem"] = deepcopy(PROBLEM_SCHEMA)
    components["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
    for method, path, operation in operations(document):
        document_security(method, path, operation)
        document_media_types(method, path, operation)
        document_problems(method, path, operation)
    add_links(document)
    drop_unused_schemas(document)
    return document


def operations(document: Document) -> Iterator[tuple[str, str, Operation]]:
    for path, item in document.get("paths", {}).items():
        for method in METHODS:
            if method in item:
                yield method, path, item[method]


def is_public(method: str, path: str) -> bool:
    return TABLE.get((method.upper(), path)) == PUBLIC


def document_security(method: str, path: str, operation: Operation) -> None:
    """The token travels as `Authorization: Bearer`, documented as a scheme, not a parameter."""
    parameters = [p for p in operation.get("parameters", ()) if not is_ignored(p)]
    if parameters:
        operation["parameters"] = parameters
    else:
        operation.pop("parameters", None)
    operation["security"] = [] if is_public(method, path) else [{"bearer": []}]


def is_ignored(parameter: dict[str, Any]) -> bool:
    """Header parameters OpenAPI ignores: the security scheme and the media types say them."""
    name = parameter.get("name", "").lower()
    return parameter.get("in") == "header" and name in IGNORED_HEADERS


def document_media_types(method: str, path: str, operation: Operation) -> None:
    key = (method, path)
    if key in REQUEST_BODIES:
        operation["requestBody"] = deepcopy(REQUEST_BODIES[key])
    if key in SUCCESS_CONTENT:
        operation["responses"]["200"]["content"] = deepcopy(SUCCESS_CONTENT[key])
    for response in operation["responses"].values():
        for media_type, content in response.get("content", {}).items():
            if not content.get("schema") and "json" not in media_type:
                content["schema"] = TEXT if media_type.startswith("text/") else BINARY


def problem_statuses(method: str, path: str, operation: Operation) -> set[int]:
    """The error statuses the edge and the handlers can answer this operation with."""
    parameters = operation.get("parameters", [])
    has_body = "requestBody" in operation
    statuses = set(EXTRA_PROBLEMS.get((method, path), ()))
    if not is_public(method, path):
        statuses |= {401, 403, 429}  # api/permissions.py, api/limits.py
    if any(p["in"] == "path" for p in parameters):
        statuses.add(404)
    if method != "get" and (method, path) not in QUERIES:
        statuses.add(409)
    if has_body:
        statuses.add(413)
        if "application/json" in operation["requestBody"]["content"]:
            statuses.add(400)  # FastAPI's own answer to bytes it cannot decode
    if parameters or has_body:
        statuses.add(422)
    if any(p["name"] == "min_position" for p in parameters):
        statuses.add(503)  # api/deps.py await_position
    return statuses


def document_problems(method: str, path: str, operation: Operation) -> None:
    responses = operation["responses"]
    for status in sorted(problem_statuses(method, path, operation)):
        existing = responses.get(str(status), {})
        description = existing.get("description")
        if not description or description in GENERATED_DESCRIPTIONS:
            description = DESCRIPTIONS[status]
        response: dict[str, Any] = {
            "description": description,
            "content": {PROBLEM: {"schema": PROBLEM_REF}},
        }
        if status in HEADERS:
            response["headers"] = deepcopy(HEADERS[status])
        responses[str(status)] = response
    operation["responses"] = dict(sorted(responses.items()))


@dataclass(frozen=True)
class Producer:
    """An answer that names a resource: `values` feed the path parameters of the operations
    on it, those with an id it names (`$response`) and no path parameter it lacks."""

    method: str
    path: str
    statuses: tuple[str, ...]
    values: dict[str, str]

    @property
    def named(self) -> frozenset[str]:
        return frozenset(k for k, v in self.values.items() if v.startswith("$response."))


COMPANY = "/v1/companies/{company_id}"
INTERACTION_ID = {"interaction_id": "$response.body#/id"}
IN_COMPANY = {"company_id": "$request.path.company_id"}
PRODUCERS = [
    Producer("post", "/v1/companies", ("201",), {"company_id": "$response.body#/id"}),
    Producer("post", f"{COMPANY}/queues", ("201",), {"queue_id": "$response.body#/id"}),
    Producer(
        "post", f"{COMPANY}/mailboxes", ("201",), {"mailbox_id": "$response.body#/id", **IN_COMPANY}
    ),
    Producer(
        "post",
        f"{COMPANY}/users",
        ("201",),
        {"user_id": "$response.body#/id", "agent_id": "$response.body#/id", **IN_COMPANY},
    ),
    Producer(
        "post",
        f"{COMPANY}/users/{{user_id}}/tokens",
        ("201",),
        {"token_id": "$response.body#/id", "user_id": "$request.path.user_id", **IN_COMPANY},
    ),
    Producer(*INBOUND, ("201", "200"), {"interaction_id": "$response.body#/interaction_id"}),
    Producer(*INBOUND, ("422",), {"quarantine_id": "$response.body#/quarantine_id", **IN_COMPANY}),
    Producer(
        "post",
        f"{COMPANY}/quarantine/{{quarantine_id}}/retry",
        ("201", "200"),
        {"interaction_id": "$response.body#/interaction_id"},
    ),
    Producer("post", f"{COMPANY}/outbound", ("201",), INTERACTION_ID),
]


def interaction_commands(document: Document) -> list[Producer]:
    """Every command on an interaction answers with it: the next command can follow."""
    return [
        Producer(method, path, ("200",), INTERACTION_ID)
        for method, path, _ in operations(document)
        if method != "get" and path.startswith("/v1/interactions/{interaction_id}/")
    ]


def add_links(document: Document) -> None:
    paths = document["paths"]
    targets = [(m, p, o, path_parameters(o)) for m, p, o in operations(document)]
    for producer in [*PRODUCERS, *interaction_commands(document)]:
        source = paths.get(producer.path, {}).get(producer.method)
        if source is None:
            continue
        links: dict[str, Any] = {}
        for method, path, operation, names in targets:
            if (method, path) == (producer.method, producer.path) or not names & producer.named:
                continue
            if names <= producer.values.keys():
                links[link_name(operation, links)] = {
                    "operationId": operation["operationId"],
                    "parameters": {name: producer.values[name] for name in sorted(names)},
                }
        for status in producer.statuses:
            if status in source["responses"] and links:
                source["responses"][status]["links"] = deepcopy(links)


def path_parameters(operation: Operation) -> frozenset[str]:
    return frozenset(p["name"] for p in operation.get("parameters", ()) if p["in"] == "path")


def link_name(operation: Operation, taken: dict[str, Any]) -> str:
    name = "".join(word.capitalize() for word in operation["summary"].split())
    return name if name not in taken else f"{name}{len(taken)}"


def drop_unused_schemas(document: Document) -> None:
    """FastAPI's own 422 schema, once every 422 is a problem."""
    if "#/components/schemas/HTTPValidationError" not in repr(document["paths"]):
        schemas = document["components"]["schemas"]
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)  # referenced only by HTTPValidationError
