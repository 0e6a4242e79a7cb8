"""Structured logs: one JSON object per line with the request's ids, the request id echoed (or
replaced when it is not a short safe token), one access line per request, and no credential in
any line."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from api.app import create_app
from api.bootstrap import build
from api.logs import (
    SAFE_REQUEST_ID,
    JsonFormatter,
    RequestLog,
    bind_route_ids,
    configure_logging,
    request_id_from,
)
from api.settings import Settings
from tests.api.scenario import bearer, company, received_interaction
from tests.conftest import leaked_secrets

OPERATOR = "operator-test-token"
INTERACTION = "5f0c2a56-0d8e-4f53-9a43-7f1d3c1b2e10"
CLIENT_SIDE = ("httpx", "httpcore", "asyncio")  # the test client's own lines, not the server's
Lines = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def json_lines() -> Iterator[Lines]:
    """Every record logged meanwhile, formatted by the JSON formatter and parsed back."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)

    def lines() -> list[dict[str, Any]]:
        parsed = [json.loads(line) for line in stream.getvalue().splitlines()]
        return [line for line in parsed if not line["logger"].startswith(CLIENT_SIDE)]

    yield lines
    root.removeHandler(handler)


def small_app() -> FastAPI:
    app = FastAPI(dependencies=[Depends(bind_route_ids)])
    app.add_middleware(RequestLog)
    worker = logging.getLogger("tests.worker")

    @app.post("/v1/interactions/{interaction_id}/accept")
    def accept(interaction_id: str) -> dict[str, str]:
        worker.info("accepting", extra={"queue": "General"})
        return {"id": interaction_id}

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("it broke")

    return app


def test_each_request_logs_json_lines_with_its_id_and_one_access_line(json_lines: Lines) -> None:
    client = TestClient(small_app())
    answer = client.post(f"/v1/interactions/{INTERACTION}/accept?token=query-string-marker")
    request_id = answer.headers["X-Request-ID"]
    assert SAFE_REQUEST_ID.fullmatch(request_id)
    handled, access = [line for line in json_lines() if line.get("request_id") == request_id]
    assert handled["msg"] == "accepting"
    assert (handled["logger"], handled["level"], handled["queue"]) == (
        "tests.worker",
        "INFO",
        "General",
    )
    assert handled["interaction_id"] == access["interaction_id"] == INTERACTION
    assert set(handled) >= {"ts", "level", "logger", "msg", "request_id"}
    assert access["logger"] == "inboxflow.access"
    assert access["route"] == "/v1/interactions/{interaction_id}/accept"
    assert (access["method"], access["status"]) == ("POST", 200)
    assert access["duration_ms"] >= 0
    assert "query-string-marker" not in json.dumps(json_lines())


def test_only_ids_from_the_path_are_logged(json_lines: Lines) -> None:
    client = TestClient(small_app())
    client.post("/v1/interactions/not-an-id-but-text/accept")
    (handled, access) = json_lines()
    assert "interaction_id" not in handled
    assert "interaction_id" not in access
    assert "not-an-id-but-text" not in json.dumps(json_lines())


def test_an_incoming_safe_request_id_is_kept_and_returned(json_lines: Lines) -> None:
    client = TestClient(small_app())
    answer = client.post("/v1/interactions/7/accept", headers={"X-Request-ID": "lb-1234.abc_9"})
    assert answer.headers["X-Request-ID"] == "lb-1234.abc_9"
    assert {line.get("request_id") for line in json_lines()} == {"lb-1234.abc_9"}


@pytest.mark.parametrize(
    "hostile",
    ["x" * 65, "../../etc/passwd", 'a"b', "<script>", "two words", "-leading-dash", "ünïcode"],
)
def test_a_hostile_request_id_is_replaced(hostile: str, json_lines: Lines) -> None:
    client = TestClient(small_app())
    answer = client.post("/v1/interactions/7/accept", headers={"X-Request-ID": hostile.encode()})
    replaced = answer.headers["X-Request-ID"]
    assert replaced != hostile.encode().decode("latin-1")  # as the server read it
    assert SAFE_REQUEST_ID.fullmatch(replaced)
    assert {line["request_id"] for line in json_lines()} == {replaced}


@given(st.text(max_size=100))
def test_any_request_id_accepted_is_a_short_safe_token(header: str) -> None:
    request_id = request_id_from(header)
    assert request_id == header or SAFE_REQUEST_ID.fullmatch(header) is None
    assert 1 <= len(request_id) <= 64
    assert all(c.isascii() and (c.isalnum() or c in "._:-") for c in request_id)


def test_a_crash_still_answers_with_the_request_id_and_logs_it(json_lines: Lines) -> None:
    client = TestClient(small_app(), raise_server_exceptions=False)
    answer = client.get("/boom", headers={"X-Request-ID": "crash-1"})
    assert answer.status_code == 500
    assert answer.headers["X-Request-ID"] == "crash-1"
    assert answer.json()["type"] == "/problems/internal-error"
    (access,) = [line for line in json_lines() if line["logger"] == "inboxflow.access"]
    assert (access["status"], access["request_id"]) == (500, "crash-1")


def test_the_real_api_never_logs_a_credential(tmp_path: Path, json_lines: Lines) -> None:
    settings = Settings(data_dir=tmp_path / "var", admin_token=OPERATOR)
    with TestClient(create_app(build(settings))) as client:
        acme = company(client)
        interaction_id = received_interaction(client, acme)
        url = f"/v1/interactions/{interaction_id}/accept?note=query-string-marker"
        assert client.post(url, headers=acme.token("A")).status_code == 200
        stranger = bearer("ifx_" + "n0t-a-real-one" * 3)
        assert client.get(f"/v1/companies/{acme.id}", headers=stranger).status_code == 401
    lines = json_lines()
    text = "\n".join(json.dumps(line) for line in lines)
    assert not leaked_secrets(text)
    assert "authorization" not in text.lower()
    assert "query-string-marker" not in text
    accepted = [
        line
        for line in lines
        if line["logger"] == "inboxflow.access" and line.get("interaction_id") == interaction_id
    ]
    assert [(a["route"], a["status"]) for a in accepted] == [
        ("/v1/interactions/{interaction_id}/accept", 200)
    ]
    assert accepted[0]["company_id"] == acme.id
    (refused,) = [line for line in lines if line.get("status") == 401]
    assert (refused["route"], refused["company_id"]) == ("/v1/companies/{company_id}", acme.id)


def test_configure_logging_chooses_the_format_and_replaces_only_its_own_handler(
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = logging.getLogger()
    level, others = root.level, list(root.handlers)
    try:
        configure_logging(Settings(log_format="text"))
        handler = configure_logging(Settings(log_format="json", log_level="WARNING"))
        assert [h for h in root.handlers if h not in others] == [handler]
        assert root.level == logging.WARNING
        handler.setStream(sys.stderr)  # the stream pytest captures now
        logging.getLogger("tests.configured").warning("disk %s", "full", extra={"free_mb": 3})
        logging.getLogger("tests.configured").info("not at this level")
        (line,) = capsys.readouterr().err.splitlines()
        assert json.loads(line) | {"ts": None} == {
            "ts": None,
            "level": "WARNING",
            "logger": "tests.configured",
            "msg": "disk full",
            "free_mb": 3,
        }
    finally:
        root.handlers[:] = others
        root.setLevel(level)


def test_settings_for_logs_come_from_the_environment() -> None:
    env = {"INBOXFLOW_LOG_FORMAT": "json", "INBOXFLOW_LOG_LEVEL": "DEBUG"}
    settings = Settings.from_env(env)
    assert (settings.log_format, settings.log_level) == ("json", "DEBUG")
    assert Settings.from_env({}).log_format == "text"
    with pytest.raises(ValueError, match="log_format"):
        Settings.from_env({"INBOXFLOW_LOG_FORMAT": "xml"})
