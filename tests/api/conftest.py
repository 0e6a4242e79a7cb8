"""The HTTP API on a real backend: SQLite files or a fresh PostgreSQL schema per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from adapters.persistence import PostgresTarget
from api.app import create_app
from api.bootstrap import build
from api.cli import migrate
from api.settings import Settings
from tests.conftest import TEST_DATABASE_URL
from tests.fakes import FixedClock

OPERATOR_TOKEN = "operator-test-token"


@pytest.fixture(params=["sqlite", "postgres"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    if request.param == "sqlite":
        return Settings(data_dir=tmp_path / "var", admin_token=OPERATOR_TOKEN)
    target: PostgresTarget = request.getfixturevalue("pg_schema")
    return Settings(
        data_dir=tmp_path / "var",
        admin_token=OPERATOR_TOKEN,
        database_url=TEST_DATABASE_URL,
        database_schema=target.schema,
    )


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def client(settings: Settings, clock: FixedClock) -> Iterator[TestClient]:
    if settings.database_url:
        migrate(settings)  # on PostgreSQL, tables come from the explicit migrate step
    with TestClient(create_app(build(settings, clock=clock))) as test_client:
        yield test_client
