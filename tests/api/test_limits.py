"""Resource limits at the edge: body sizes (413) and request rates (429), at and just over the cap.

Rates are counted in process and on Redis; the window follows the test's clock, so a bucket
refills by moving the clock, never by sleeping.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
import redis
from fastapi.testclient import TestClient

from api.app import create_app
from api.bootstrap import Services, build
from api.limits import RedisRateLimiter, window_of
from api.settings import Settings
from tests.api.conftest import OPERATOR_TOKEN
from tests.api.distribution_env import redis_url
from tests.api.scenario import Company, bearer, company, ok, raw_email
from tests.fakes import T0, FixedClock

JSON_CAP, MESSAGE_CAP = 1024, 2048
EMAIL_CAP = (MESSAGE_CAP + 2) // 3 * 4 + JSON_CAP  # base64 of a message plus the JSON allowance


@dataclass
class Edge:
    client: TestClient
    services: Services
    clock: FixedClock
    acme: Company
    other: Company

    def limit(self, **settings: int) -> None:
        """Small limits from now on, counted from the start of a fresh window."""
        self.services.settings = self.services.settings.model_copy(update=settings)
        self.clock.advance(minutes=1)

    def get(self, token: str) -> Any:
        return self.client.get(f"/v1/companies/{self.company_of(token)}", headers=bearer(token))

    def company_of(self, token: str) -> str:
        mine = [self.acme.admin, *(t for _, t in self.acme.agents.values())]
        return self.acme.id if token in mine else self.other.id


@pytest.fixture(params=["memory", "redis"])
def edge(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Edge]:
    settings = Settings(
        data_dir=tmp_path / "var",
        admin_token=OPERATOR_TOKEN,
        max_json_bytes=JSON_CAP,
        max_message_bytes=MESSAGE_CAP,
    )
    if request.param == "redis":
        prefix = f"inboxflow-test:{uuid4().hex}:"
        settings = settings.model_copy(update={"redis_url": redis_url(), "rate_key_prefix": prefix})
    clock = FixedClock()
    with TestClient(create_app(build(settings, clock=clock))) as client:
        services: Services = client.app.state.services  # type: ignore[attr-defined]
        acme, other = company(client), company(client, "Other", domain="other.test")
        yield Edge(client, services, clock, acme, other)
    if request.param == "redis":
        keys = redis.Redis.from_url(redis_url()).keys(f"{settings.rate_key_prefix}*")
        assert keys, "the Redis limiter was not used"


def padded(body: dict[str, Any], size: int) -> bytes:
    """The JSON of `body`, padded with trailing whitespace to exactly `size` bytes."""
    text = json.dumps(body).encode()
    return text + b" " * (size - len(text))


def assert_problem(response: Any, status: int, kind: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == f"/problems/{kind}"


def in_chunks(data: bytes) -> Iterator[bytes]:
    """A body without Content-Length: the client sends it chunked."""
    for start in range(0, len(data), 300):
        yield data[start : start + 300]


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_json_body_at_the_cap_is_read_and_one_byte_more_is_413(edge: Edge, chunked: bool) -> None:
    url = f"/v1/companies/{edge.acme.id}/substatuses"
    headers = {**bearer(edge.acme.admin), "Content-Type": "application/json"}
    for size, status in ((JSON_CAP, 200), (JSON_CAP + 1, 413)):
        body = padded({"substatuses": [f"Waiting {size}"]}, size)
        content = in_chunks(body) if chunked else body
        response = edge.client.put(url, content=content, headers=headers)
        if status == 413:
            assert_problem(response, 413, "payload-too-large")
        else:
            assert ok(response)["substatuses"] == ["Pending", f"Waiting {size}"]
    company = ok(edge.client.get(f"/v1/companies/{edge.acme.id}", headers=bearer(edge.acme.admin)))
    assert company["substatuses"] == ["Pending", f"Waiting {JSON_CAP}"]


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_raw_message_may_be_as_large_as_the_message_cap(edge: Edge, chunked: bool) -> None:
    url = f"/v1/companies/{edge.acme.id}/inbound"
    headers = {**bearer(edge.acme.admin), "Content-Type": "message/rfc822"}
    for size, status in ((MESSAGE_CAP, 201), (MESSAGE_CAP + 1, 413)):
        raw = raw_email(body="")
        raw += ((b"x" * 70 + b"\r\n") * (size // 72 + 1))[: size - len(raw)]
        response = edge.client.post(
            url, content=in_chunks(raw) if chunked else raw, headers=headers
        )
        if status == 413:
            assert_problem(response, 413, "payload-too-large")
        else:
            assert response.status_code == 201, response.text


def test_routes_that_compose_email_take_a_message_in_base64(edge: Edge) -> None:
    url = f"/v1/interactions/{uuid4()}/reply"
    headers = {**edge.acme.token("A"), "Content-Type": "application/json"}
    for size, status in ((JSON_CAP + 1, 404), (EMAIL_CAP, 404), (EMAIL_CAP + 1, 413)):
        response = edge.client.post(url, content=padded({"body_text": "Hi"}, size), headers=headers)
        assert response.status_code == status, (size, response.text)


def test_a_token_gets_its_rate_then_429_until_its_window_ends(edge: Edge) -> None:
    edge.limit(rate_per_token=3, rate_per_company=100)
    a, b = edge.acme.agents["A"][1], edge.acme.agents["B"][1]
    for _ in range(3):
        ok(edge.get(a))
    refused = edge.get(a)
    assert_problem(refused, 429, "rate-limited")
    assert refused.headers["Retry-After"] == "60"
    assert refused.json()["per"] == "token"
    ok(edge.get(b))  # another token of the same company has its own count
    edge.clock.advance(seconds=59.5)
    assert edge.get(a).headers["Retry-After"] == "1"
    edge.clock.advance(seconds=0.5)
    ok(edge.get(a))


def test_a_company_gets_its_rate_across_its_tokens(edge: Edge) -> None:
    edge.limit(rate_per_token=100, rate_per_company=5)
    acme = edge.acme
    for token in (acme.admin, acme.admin, acme.agents["A"][1], acme.agents["B"][1], acme.admin):
        ok(edge.get(token))
    refused = edge.get(acme.agents["supervisor"][1])
    assert_problem(refused, 429, "rate-limited")
    assert refused.json()["per"] == "company"
    assert refused.headers["Retry-After"] == "60"
    ok(edge.get(edge.other.admin))  # another company counts on its own
    edge.clock.advance(minutes=1)
    ok(edge.get(acme.agents["supervisor"][1]))


def test_the_operator_health_checks_and_unknown_tokens_are_not_counted(edge: Edge) -> None:
    edge.limit(rate_per_token=1, rate_per_company=1)
    a = edge.acme.agents["A"][1]
    ok(edge.get(a))
    assert_problem(edge.get(a), 429, "rate-limited")
    for _ in range(3):
        operator = bearer(OPERATOR_TOKEN)
        ok(edge.client.get(f"/v1/companies/{edge.acme.id}", headers=operator))
        for path in ("/healthz", "/readyz", "/metrics"):
            assert edge.client.get(path, headers=bearer(a)).status_code == 200, path
        unknown = edge.client.get(f"/v1/companies/{edge.acme.id}", headers=bearer("ifx_unknown"))
        assert_problem(unknown, 401, "invalid-token")


def test_the_redis_limiter_counts_per_key_and_window() -> None:
    limiter = RedisRateLimiter(redis_url(), f"inboxflow-test:{uuid4().hex}:")
    try:
        window, retry_after = window_of(T0.replace(second=15))
        assert retry_after == 45
        assert [limiter.count("token:x", window) for _ in range(3)] == [1, 2, 3]
        assert limiter.count("token:y", window) == 1
        assert limiter.count("token:x", window + 1) == 1
    finally:
        limiter.close()
