"""The run-wide log check: it flags every kind of secret, and only secrets."""

from __future__ import annotations

import logging
import secrets
from uuid import uuid4

import pytest
from cryptography.fernet import Fernet

from api.bootstrap import hash_token, new_token
from tests.conftest import DELIBERATE_LEAK_LOGGER, LOG_CAPTURE, SecretLineCapture, leaked_secrets


def test_the_detector_flags_every_kind_of_secret() -> None:
    key = Fernet.generate_key().decode()
    sealed = Fernet(key).encrypt(b"hunter").decode()
    token = new_token()
    for line in (
        f"GET /v1/companies with Authorization: Bearer {token}",
        f"issued {token} for ada",
        f"Authorization: bearer {secrets.token_urlsafe(32)}",  # a token of the older format
        "Authorization: Bearer operator-test-token",
        "mailbox settings {'password': 'hunter2-imap'}",
        "SMTP AUTH as support@acme.test with s3cret-smtp refused",
        f"secret key {key} loaded",
        f"imap {{'password': 'fernet:{sealed}'}}",
    ):
        assert leaked_secrets(line), line


def test_ordinary_lines_are_not_flagged() -> None:
    for line in (
        "GET /v1/companies 401: a bearer token is required",
        f"projection timeline failed at notification 42 of interaction {uuid4()}",
        f"blob {hash_token(new_token())} stored",  # a token's hash is how the store knows it
        "mailbox 6d1c: LOGIN failed (authentication failed), retrying in 30 s",
    ):
        assert leaked_secrets(line) == [], line


def test_a_token_logged_by_a_child_logger_is_caught_and_kept_out_of_the_run_wide_check(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake_token = "ifx_" + secrets.token_urlsafe(32)
    child = logging.getLogger(DELIBERATE_LEAK_LOGGER).getChild("worker")
    own = SecretLineCapture(ignore=None)
    child.addHandler(own)
    leaks_before = LOG_CAPTURE.leaks
    try:
        with caplog.at_level(logging.DEBUG, logger=DELIBERATE_LEAK_LOGGER):
            child.debug("calling the API with %s", fake_token)
    finally:
        child.removeHandler(own)
    line = LOG_CAPTURE.format(caplog.records[-1])
    assert leaked_secrets(line) == [fake_token]
    assert own.leaks == 1
    assert fake_token in own.lines[0]
    assert LOG_CAPTURE.leaks == leaks_before  # the marker logger is the check's only exception
