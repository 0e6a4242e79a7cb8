"""Hostile and real-world mail through a real Dovecot: the CPython test-suite corpus and
hypothesis-generated MIME (broken boundaries, unknown charsets, header-only, deep nesting,
huge part counts). No worker crash; every UID ends as exactly one interaction or one
quarantined record."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from adapters.mime import ParseLimits, parse_message
from domain.application.ingestion import Folder
from domain.errors import UnparseableMessage
from tests.integration.dovecot import Dovecot
from tests.integration.imap_stack import ImapUser, Stack, eventually
from tests.unit.test_mime import CORPUS_FILES, ENCODED_SUBJECTS, SENDERS, TREE, deep, wide

pytest_plugins = ["tests.integration.conftest_imap"]
GENERATED = 520


def with_headers(body: bytes, subject: str, sender: str, header_only: bool) -> bytes:
    head = f"From: {sender}\r\nSubject: {subject}\r\nMessage-ID: <{subject}>\r\n"
    return head.encode("utf-8", "surrogateescape") + (
        body.split(b"\r\n\r\n")[0] if header_only else body
    )


MIME = st.one_of(
    st.builds(
        with_headers,
        TREE,
        st.sampled_from(ENCODED_SUBJECTS) | st.text(max_size=40),
        st.sampled_from(SENDERS),
        st.booleans(),
    ),
    st.builds(wide, st.integers(1, 1_200)),  # the limit is 500 parts
    st.builds(deep, st.integers(1, 40)),  # and 20 levels
    st.binary(max_size=300).map(lambda noise: b"From: ann@example.com\r\n" + noise),
)


def generated_messages() -> list[bytes]:
    found: list[bytes] = []

    @settings(
        max_examples=GENERATED,
        database=None,
        derandomize=True,
        phases=[Phase.generate],
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(MIME)
    def collect(raw: bytes) -> None:
        found.append(raw)

    collect()
    return found


def append_all(server: Dovecot, user: ImapUser, messages: list[bytes]) -> int:
    """APPENDs each message; Dovecot refuses a few (e.g. with NUL bytes): those are not counted."""
    client = server.client(user.username)
    appended = 0
    try:
        for raw in messages:
            try:
                client.append("INBOX", raw)
            except Exception:  # the server's refusal, not ours to judge
                continue
            appended += 1
    finally:
        client.logout()
    return appended


def stored_messages(server: Dovecot, user: ImapUser) -> dict[int, bytes]:
    """Every message as the worker fetched it (Dovecot may normalise what was appended)."""
    client = server.client(user.username)
    try:
        client.select_folder("INBOX", readonly=True)
        fetched = client.fetch(client.search(["ALL"]), ["BODY.PEEK[]"])
        return {uid: data[b"BODY[]"] for uid, data in fetched.items()}
    finally:
        client.logout()


def expected_identity(raw: bytes) -> tuple[str, str]:
    """("interaction", Message-ID) for what parses, ("quarantine", digest) for what does not."""
    try:
        return "interaction", parse_message(raw, ParseLimits()).message_id
    except UnparseableMessage:
        return "quarantine", hashlib.sha256(raw).hexdigest()


def test_every_uid_ends_as_one_interaction_or_one_quarantined_record(
    dovecot: Dovecot, imap_user: ImapUser, sqlite_stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    corpus = [path.read_bytes() for path in CORPUS_FILES]
    generated = generated_messages()
    assert len(corpus) >= 40
    assert len(generated) == GENERATED
    appended = append_all(dovecot, imap_user, [*corpus, *generated])
    assert appended >= len(corpus) + GENERATED - 20
    mailbox_id = sqlite_stack.add_mailbox(dovecot, imap_user)
    caplog.set_level(logging.WARNING)

    sqlite_stack.start()

    stored = stored_messages(dovecot, imap_user)
    assert len(stored) == appended
    folder = Folder(sqlite_stack.company_id, mailbox_id, "INBOX", 0)
    app = sqlite_stack.services.app
    eventually(lambda: (c := app.checkpoint(folder)) is not None and c.last_uid == max(stored))
    status = sqlite_stack.status(mailbox_id)
    assert (status["failures"], status["last_error"]) == (0, None)  # no worker crash
    assert not [r for r in caplog.records if r.name.startswith("api.workers")]

    interactions = {e.message["rfc_message_id"] for e in sqlite_stack.interactions()}
    quarantined: dict[str, Any] = {e.blob: e for e in sqlite_stack.quarantined()}
    expected = {uid: expected_identity(raw) for uid, raw in stored.items()}
    recorded_ids, quarantined_digests = set(), set()
    for uid, (kind, identity) in expected.items():
        digest = hashlib.sha256(stored[uid]).hexdigest()
        if kind == "interaction" and digest not in quarantined:
            recorded_ids.add(identity)
        else:  # unparseable, or parsed and then refused by the model
            quarantined_digests.add(digest)
    assert interactions == recorded_ids  # a Message-ID seen under several UIDs: one interaction
    assert set(quarantined) == quarantined_digests  # the same bytes twice: one record
    assert len(interactions) > 100
    assert len(quarantined) > 20
