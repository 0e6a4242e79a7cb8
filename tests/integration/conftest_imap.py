"""IMAP fixtures: a real Dovecot for the session, a fresh IMAP user per test, and an ingestion
stack on SQLite or PostgreSQL.

Test modules load it with `pytest_plugins = ["tests.integration.conftest_imap"]`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.persistence import PostgresTarget
from api.cli import migrate
from api.settings import Settings
from tests.conftest import TEST_DATABASE_URL
from tests.integration.dovecot import Dovecot
from tests.integration.imap_stack import ImapUser, Stack, new_user, open_stack, start_dovecot


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    server = start_dovecot()
    yield server
    server.close()


@pytest.fixture
def imap_user(dovecot: Dovecot) -> ImapUser:
    return new_user(dovecot)


@pytest.fixture(params=["sqlite", "postgres"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings of the embedded default, or of a fresh PostgreSQL schema (migrated)."""
    if request.param == "sqlite":
        return Settings(data_dir=tmp_path / "var", run_workers=False)
    target: PostgresTarget = request.getfixturevalue("pg_schema")
    settings = Settings(
        data_dir=tmp_path / "var",
        database_url=TEST_DATABASE_URL,
        database_schema=target.schema,
        run_workers=False,
    )
    migrate(settings)
    return settings


@pytest.fixture
def sqlite_storage(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "var", run_workers=False)


@pytest.fixture
def stack(storage: Settings) -> Iterator[Stack]:
    opened = open_stack(storage)
    yield opened
    opened.stop()
    opened.services.close()


@pytest.fixture
def sqlite_stack(sqlite_storage: Settings) -> Iterator[Stack]:
    opened = open_stack(sqlite_storage)
    yield opened
    opened.stop()
    opened.services.close()
