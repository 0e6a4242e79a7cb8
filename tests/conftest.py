"""Shared fixtures: real PostgreSQL (a fresh schema per test) and the CI rule for services."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from adapters.persistence import Persistence, PostgresTarget

TEST_DATABASE_URL = os.environ.get(
    "INBOXFLOW_TEST_DATABASE_URL",
    "postgresql://inboxflow:inboxflow@127.0.0.1:5432/inboxflow_test",
)
IN_CI = os.environ.get("CI") == "true"


def service_missing(what: str, error: BaseException | str) -> None:
    """Under CI a missing service fails the test; on a laptop it skips it."""
    message = f"{what} is not reachable: {error}"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    try:
        with psycopg.connect(TEST_DATABASE_URL, connect_timeout=3):
            pass
    except psycopg.OperationalError as error:
        service_missing("PostgreSQL", error)
    return TEST_DATABASE_URL


@pytest.fixture
def pg_schema(postgres_url: str) -> Iterator[PostgresTarget]:
    """A schema of its own for one test, dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    yield PostgresTarget.from_url(postgres_url, schema=schema)
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", "postgres"])
def persistence(request: pytest.FixtureRequest, tmp_path: Path) -> Persistence:
    """The same test on the embedded default and on PostgreSQL."""
    if request.param == "sqlite":
        return Persistence(data_dir=tmp_path / "var")
    target: PostgresTarget = request.getfixturevalue("pg_schema")
    return Persistence(data_dir=tmp_path / "var", postgres=target, pool_size=2)
