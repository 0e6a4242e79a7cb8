"""Connecting to a real Dovecot: STARTTLS and IMAPS verified against a test CA, plaintext only
when allowed, a certificate nobody vouches for refused, a wrong password backed off."""

from __future__ import annotations

import logging
from datetime import datetime

import pytest

from tests.integration.dovecot import Dovecot
from tests.integration.imap_stack import (
    ImapUser,
    Stack,
    eventually,
    new_user,
    plain_email,
    start_dovecot,
)

pytest_plugins = ["tests.integration.conftest_imap"]


def test_starttls_and_imaps_with_the_test_ca_both_ingest(
    dovecot: Dovecot, sqlite_stack: Stack
) -> None:
    starttls_user, imaps_user = new_user(dovecot), new_user(dovecot)
    dovecot.append(starttls_user.username, [plain_email(1, to="starttls@acme.test")])
    dovecot.append(imaps_user.username, [plain_email(2, to="imaps@acme.test")])
    sqlite_stack.add_mailbox(dovecot, starttls_user, address="starttls@acme.test", tls="starttls")
    sqlite_stack.add_mailbox(dovecot, imaps_user, address="imaps@acme.test", tls="implicit")

    sqlite_stack.start()

    received = eventually(lambda: len(sqlite_stack.interactions()) == 2 and sqlite_stack)
    mailboxes = sorted(e.mailbox for e in received.interactions())
    assert mailboxes == ["imaps@acme.test", "starttls@acme.test"]


def test_plaintext_is_used_only_when_the_mailbox_allows_it(
    dovecot: Dovecot, imap_user: ImapUser, sqlite_stack: Stack
) -> None:
    dovecot.append(imap_user.username, [plain_email(1)])
    sqlite_stack.add_mailbox(dovecot, imap_user, tls="none")  # the fixture allows plaintext

    sqlite_stack.start()

    eventually(lambda: len(sqlite_stack.interactions()) == 1)


def test_a_server_certificate_from_an_unknown_ca_is_refused(
    dovecot: Dovecot, imap_user: ImapUser, sqlite_stack: Stack
) -> None:
    dovecot.append(imap_user.username, [plain_email(1)])
    mailbox_id = sqlite_stack.add_mailbox(dovecot, imap_user, ca_file=None)  # system trust only

    sqlite_stack.start()

    status = eventually(lambda: sqlite_stack.status(mailbox_id).get("last_error"))
    assert "CERTIFICATE_VERIFY_FAILED" in status
    assert sqlite_stack.status(mailbox_id)["connected"] is False
    assert sqlite_stack.interactions() == []


def test_a_self_signed_certificate_is_refused_unless_configured_as_the_ca(
    sqlite_stack: Stack,
) -> None:
    server = start_dovecot(self_signed=True)
    try:
        user = new_user(server)
        server.append(user.username, [plain_email(1, to="a@acme.test")])
        refused = sqlite_stack.add_mailbox(server, user, address="a@acme.test", ca_file=None)
        trusted = sqlite_stack.add_mailbox(server, user, address="b@acme.test")

        sqlite_stack.start()

        eventually(lambda: len(sqlite_stack.interactions()) == 1)
        error = eventually(lambda: sqlite_stack.status(refused).get("last_error"))
        assert "self-signed certificate" in error or "CERTIFICATE_VERIFY_FAILED" in error
        assert sqlite_stack.status(trusted)["connected"] is True
    finally:
        sqlite_stack.stop()
        server.close()


def test_a_wrong_password_is_reported_and_retried_with_growing_delays(
    sqlite_stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    """On its own Dovecot: after a failed login Dovecot delays that client's next logins."""
    server = start_dovecot()
    user = new_user(server)
    wrong = "not-" + user.password
    mailbox_id = sqlite_stack.add_mailbox(server, user, password=wrong)
    caplog.set_level(logging.DEBUG)
    planned: dict[int, float] = {}

    def two_planned_retries() -> bool:
        status = sqlite_stack.status(mailbox_id)
        if status.get("failures") and status.get("next_attempt_at"):
            delay = datetime.fromisoformat(status["next_attempt_at"]) - datetime.fromisoformat(
                status["last_error_at"]
            )
            planned[status["failures"]] = delay.total_seconds()
        return len(planned) >= 2

    try:
        sqlite_stack.start()
        eventually(two_planned_retries, every=0.02)
        sqlite_stack.stop()
    finally:
        server.close()

    status = sqlite_stack.status(mailbox_id)
    assert status["connected"] is False
    assert "ImapRefused" in status["last_error"]
    assert "AUTHENTICATIONFAILED" in status["last_error"]
    assert status["failures"] <= 3  # in the seconds this took: no tight loop
    delays = [planned[n] for n in sorted(planned)]
    assert delays[-1] > delays[0] * 1.5  # backing off exponentially
    assert wrong not in caplog.text
    assert user.password not in caplog.text
    assert wrong not in str(status)
