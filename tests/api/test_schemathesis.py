"""Schemathesis against the app's own OpenAPI document: generated requests, documented answers.

One embedded app (SQLite in a temporary directory) with a seeded company serves every test of
this module, in process (no network). Generated path ids are sometimes the seeded ones, so
requests reach real handlers and not only 404s; each request carries the token of a role the
operation allows (api/permissions.py), drawn per example. Every answer must be no server error,
have a documented status, media type, headers and body.

Left out: the two server-sent event streams (`/v1/agents/{agent_id}/events`,
`/v1/queues/{queue_id}/events`): a stream stays open until the client leaves, and Schemathesis'
ASGI transport waits for the answer to end. tests/api/test_distribution_streams.py covers them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hypothesis
import hypothesis.strategies as st
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import FlakyStrategyDefinition
from schemathesis import Case, GenerationMode, HookContext, Response
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.schemas import BaseSchema
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.types import ASGIApp, Receive, Scope, Send

from api.app import create_app
from api.bootstrap import build
from api.permissions import PUBLIC, TABLE
from api.settings import Settings
from tests.api.conftest import OPERATOR_TOKEN
from tests.api.scenario import bearer, company, ok, post_email, raw_email
from tests.fakes import FixedClock

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
STREAMS = r"/events$"
EXAMPLES = settings(
    max_examples=100,
    derandomize=True,  # the same requests on every run, in CI too
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
SEEDED_AS = {  # parameters and body fields that take the ids seeded for another name
    "queue": "queue_id",
    "queues": "queue_id",
    "visible_queues": "queue_id",
    "default_queue_id": "queue_id",
    "to_queue_id": "queue_id",
    "agent": "agent_id",
    "first_agent": "agent_id",
    "assignee": "agent_id",
    "to_agent_id": "agent_id",
    "for_agent_id": "agent_id",
}
FLOWS, STEPS = 30, 10  # scenarios and steps per scenario of the stateful test
ATTACHED = (
    b"From: Carol <carol@customer.test>\r\nTo: support@acme.test\r\nSubject: Invoice\r\n"
    b"Message-ID: <attached@customer.test>\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
    b"--b\r\nContent-Type: text/plain\r\n\r\nSee the attachment.\r\n"
    b"--b\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n"
    b'Content-Disposition: attachment; filename="invoice.pdf"\r\n\r\n'
    b"JVBERi0xLjQgcHJldGVuZAo=\r\n--b--\r\n"
)

schemathesis.serializer.alias("message/rfc822", "application/octet-stream")


@dataclass
class World:
    """The app under test, the tokens of each role, and the ids seeded in it by parameter."""

    app: ASGIApp
    tokens: dict[str, str]
    ids: dict[str, list[str]] = field(default_factory=dict)

    def sometimes_seeded(self, values: Any) -> st.SearchStrategy[Any]:
        """Each id among `values` (path, query or body) as generated, or a seeded one."""
        if not isinstance(values, dict):
            return st.just(values)
        return st.fixed_dictionaries(
            {name: self._value_or_seeded(name, value) for name, value in values.items()}
        )

    def _value_or_seeded(self, name: str, value: Any) -> st.SearchStrategy[Any]:
        seeded = self.ids.get(SEEDED_AS.get(name, name), [])
        if not seeded or not isinstance(value, str | list):
            return st.just(value)
        if isinstance(value, list):
            return st.sampled_from([value, seeded])
        return st.sampled_from([value, *seeded])

    def tokens_for(self, method: str, path: str) -> list[str]:
        access = TABLE[(method.upper(), path)]
        return [] if access == PUBLIC else [self.tokens[role] for role in sorted(access)]


def seeded_world(client: TestClient) -> World:
    """A company with its people, queues and mailbox, three interactions (one accepted, one
    with an attachment), a quarantined email and a spare token to revoke."""
    acme = company(client, open_limit=100_000)
    admin = bearer(acme.admin)
    received = post_email(client, acme, raw_email())
    accepted = post_email(client, acme, raw_email(sender="dan@customer.test"))
    ok(
        client.post(
            f"/v1/interactions/{accepted['interaction_id']}/accept", headers=acme.token("A")
        )
    )
    attached = post_email(client, acme, ATTACHED)
    junk = post_email(client, acme, b"Subject: no sender\r\n\r\nhello\r\n", status=422)
    spare = ok(
        client.post(
            f"/v1/companies/{acme.id}/users/{acme.agent_id('B')}/tokens", headers=admin, json={}
        ),
        201,
    )
    position = spare["position"]
    thread = ok(
        client.get(f"/v1/interactions/{attached['interaction_id']}/messages", headers=admin)
    )
    contacts = ok(client.get("/v1/contacts", params={"min_position": position}, headers=admin))
    people = [acme.agent_id(name) for name in ("A", "B", "supervisor")]
    return World(
        app=client.app,
        tokens={
            "operator": OPERATOR_TOKEN,
            "admin": acme.admin,
            "supervisor": acme.agents["supervisor"][1],
            "agent": acme.agents["A"][1],
        },
        ids={
            "company_id": [acme.id],
            "user_id": people,
            "agent_id": people,
            "queue_id": list(acme.queues.values()),
            "mailbox_id": [acme.mailbox_id],
            "interaction_id": [
                str(outcome["interaction_id"]) for outcome in (received, accepted, attached)
            ],
            "message_id": [thread["items"][0]["id"]],
            "blob": [thread["items"][0]["attachments"][0]["blob"]],
            "quarantine_id": [junk["quarantine_id"]],
            "contact_id": [contact["id"] for contact in contacts["items"]],
            "token_id": [spare["id"]],
        },
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    data_dir: Path = tmp_path_factory.mktemp("schemathesis") / "var"
    settings = Settings(
        data_dir=data_dir,
        admin_token=OPERATOR_TOKEN,
        rate_per_token=1_000_000,  # the limits have their own tests; here they would only refuse
        rate_per_company=1_000_000,
    )
    with TestClient(create_app(build(settings, clock=FixedClock()))) as client:
        yield seeded_world(client)


def without_lifespan(app: ASGIApp) -> ASGIApp:
    """The app, its lifespan left to the `world` fixture: Schemathesis runs the lifespan of an
    app it calls and ends it on its own schedule (after each test with its pytest plugin, at
    exit without), which would close the services while the module still needs them."""

    async def served(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await app(scope, receive, send)
            return
        while True:
            message = await receive()
            await send({"type": f"{message['type']}.complete"})
            if message["type"] == "lifespan.shutdown":
                return

    return served


@pytest.fixture(scope="module")
def api_schema(world: World) -> BaseSchema:
    schema = schemathesis.openapi.from_asgi("/openapi.json", without_lifespan(world.app))

    @schema.hook
    def flatmap_path_parameters(context: HookContext, values: Any) -> st.SearchStrategy[Any]:
        return world.sometimes_seeded(values)

    @schema.hook
    def flatmap_query(context: HookContext, values: Any) -> st.SearchStrategy[Any]:
        return world.sometimes_seeded(values)

    @schema.hook
    def flatmap_body(context: HookContext, values: Any) -> st.SearchStrategy[Any]:
        return world.sometimes_seeded(values)

    @schema.hook
    def flatmap_headers(
        context: HookContext, headers: dict[str, Any] | None
    ) -> st.SearchStrategy[dict[str, Any] | None]:
        """A bearer token of one of the roles the operation allows."""
        operation = context.operation
        assert operation is not None
        tokens = world.tokens_for(operation.method, operation.path)
        if not tokens:
            return st.just(headers)
        return st.sampled_from(tokens).map(
            lambda token: {**(headers or {}), "Authorization": f"Bearer {token}"}
        )

    return schema.exclude(path_regex=STREAMS)


def test_the_document_says_every_refusal_is_a_problem_and_links_the_main_flows(
    api_schema: BaseSchema,
) -> None:
    document = api_schema.raw_schema
    paths = document["paths"]
    for item in paths.values():
        for operation in item.values():
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    assert response["content"] == {
                        "application/problem+json": {
                            "schema": {"$ref": "#/components/schemas/Problem"}
                        }
                    }
    assert "HTTPValidationError" not in document["components"]["schemas"]

    def linked(method: str, path: str, status: str) -> set[str]:
        links = paths[path][method]["responses"][status]["links"].values()
        return {link["operationId"] for link in links}

    ids = {op["operationId"]: (m, p) for p, item in paths.items() for m, op in item.items()}
    company = {ids[i] for i in linked("post", "/v1/companies", "201")}
    assert ("get", "/v1/companies/{company_id}") in company
    received = {ids[i] for i in linked("post", "/v1/companies/{company_id}/inbound", "201")}
    assert ("post", "/v1/interactions/{interaction_id}/accept") in received
    queue = {ids[i] for i in linked("post", "/v1/companies/{company_id}/queues", "201")}
    assert ("get", "/v1/queues/{queue_id}/waiting") in queue
    mailbox = {ids[i] for i in linked("post", "/v1/companies/{company_id}/mailboxes", "201")}
    assert ("delete", "/v1/companies/{company_id}/mailboxes/{mailbox_id}") in mailbox
    user = {ids[i] for i in linked("post", "/v1/companies/{company_id}/users", "201")}
    assert ("post", "/v1/agents/{agent_id}/login") in user


DOCS = {"/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"}  # FastAPI's own pages
OPERATIONS = sorted(
    (method, path) for method, path in TABLE if path not in DOCS and not re.search(STREAMS, path)
)


# Schemathesis' pytest integration (`schema.parametrize()`) needs the app at import time, or,
# lazily, a pytest internal that pytest 9.2 removed (so pyproject.toml turns its plugin off):
# each operation is one test here instead, running Hypothesis on the operation's strategy.
@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_every_operation_answers_as_documented(
    api_schema: BaseSchema, method: str, path: str
) -> None:
    operation = api_schema[path][method]
    cases = st.one_of(
        operation.as_strategy(mode, hooks=api_schema.hooks) for mode in GenerationMode
    )

    @EXAMPLES
    @given(cases)
    def answers_as_documented(case: Case) -> None:
        case.call_and_validate(checks=CHECKS)

    answers_as_documented()


def test_linked_flows_answer_as_documented(api_schema: BaseSchema) -> None:
    """Chains of operations along the document's links: a created resource's id is used by
    the operations on it (a queue's waiting list, an interaction's commands, ...).

    The app keeps its state from one scenario to the next, so a scenario Hypothesis replays
    may take another path (a mailbox deleted earlier answers 404, and its link is not
    followed): Hypothesis calls that a flaky strategy. Like Schemathesis' own runner, this
    test then goes on with the next seed; every failed check is recorded when it happens, so
    a failure Hypothesis cannot replay still fails the test."""
    failures: list[str] = []
    scenarios = 0

    class Flows(api_schema.as_state_machine()):  # type: ignore[misc]
        def validate_response(
            self, response: Response, case: Case, additional_checks: Any = None, **kwargs: Any
        ) -> None:
            try:
                case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs)
            except FailureGroup as failure:
                failures.append(f"{case.operation.label}: {failure}\n{case.as_curl_command()}")
                raise

        def teardown(self) -> None:
            nonlocal scenarios
            scenarios += 1

    flows = settings(EXAMPLES, derandomize=False, max_examples=FLOWS, stateful_step_count=STEPS)
    for attempt in range(FLOWS):
        if scenarios >= FLOWS:
            break
        try:
            hypothesis.seed(attempt)(Flows).run(settings=flows)
        except FlakyStrategyDefinition:
            continue
    assert not failures, "\n\n".join(failures)
    assert scenarios >= FLOWS
