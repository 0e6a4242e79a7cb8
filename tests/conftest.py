"""Shared fixtures: real PostgreSQL (a fresh schema per test) and the CI rule for services."""

from __future__ import annotations

import logging
import os
import re
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


# No secret in any log line, for the whole run: a handler on the root logger formats every
# record (DEBUG and up, third-party loggers included) and keeps only the lines that show a
# secret, plus a count; the session fails at its end if there was one.
THIRD_PARTY_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "httpx", "eventsourcing")
DELIBERATE_LEAK_LOGGER = "tests.deliberate-leak"  # only the log capture's own test logs here
SECRETS_IN_TESTS = (
    "operator-test-token",  # tests/api/conftest.py OPERATOR_TOKEN
    "hunter2",  # mailbox passwords of the API tests
    "s3cret-smtp",  # tests/integration/smtp_peer.py PASSWORD
    "wrong-Pa55",
)
SECRET_PATTERNS = (
    re.compile(r"ifx_[A-Za-z0-9_-]{16,}"),  # a user's bearer token
    re.compile(r"(?i)bearer\s+[A-Za-z0-9._~+/-]{16,}"),  # any bearer credential, e.g. a header
    re.compile(r"gAAAAA[A-Za-z0-9_=-]{20,}"),  # a Fernet token: a sealed secret
    re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{43}=(?![A-Za-z0-9_=-])"),  # a Fernet key
    re.compile("|".join(re.escape(secret) for secret in SECRETS_IN_TESTS)),
)


def leaked_secrets(line: str) -> list[str]:
    """The secrets that show in one log line."""
    return [match.group() for pattern in SECRET_PATTERNS for match in pattern.finditer(line)]


class SecretLineCapture(logging.Handler):
    """Formats every record; keeps the first `keep` lines that show a secret and counts all."""

    def __init__(self, *, ignore: str | None = DELIBERATE_LEAK_LOGGER, keep: int = 20) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.ignore, self.keep = ignore, keep
        self.lines: list[str] = []
        self.leaks = 0

    def emit(self, record: logging.LogRecord) -> None:
        if self.ignore and (record.name + ".").startswith(self.ignore + "."):
            return
        try:
            line = self.format(record)  # with the traceback of a logged exception
        except Exception:
            self.handleError(record)
            return
        if leaked_secrets(line):
            self.leaks += 1
            if len(self.lines) < self.keep:
                self.lines.append(line)


LOG_CAPTURE = SecretLineCapture()
_levels_before: dict[str, int] = {}


def pytest_configure(config: pytest.Config) -> None:
    for name in ("", *THIRD_PARTY_LOGGERS):
        logger = logging.getLogger(name)
        _levels_before[name] = logger.level
        logger.setLevel(logging.DEBUG)
    logging.getLogger().addHandler(LOG_CAPTURE)


def pytest_unconfigure(config: pytest.Config) -> None:
    logging.getLogger().removeHandler(LOG_CAPTURE)
    for name, level in _levels_before.items():
        logging.getLogger(name).setLevel(level)


@pytest.fixture(scope="session", autouse=True)
def no_secret_in_any_log_line() -> Iterator[None]:
    yield
    if LOG_CAPTURE.leaks:
        shown = "\n".join(LOG_CAPTURE.lines)
        pytest.fail(f"{LOG_CAPTURE.leaks} log lines show a secret, among them:\n{shown}")
