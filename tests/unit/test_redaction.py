"""`redacted` removes every secret from nested settings and leaves everything else alone."""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from projections.audit_log import REDACTED, redacted

MARK = "S3CR3T"  # every generated secret carries it; no other generated text can
SECRET_KEYS = st.sampled_from(
    ["password", "smtp_password", "Password", "token_hash", "secret", "api_key", "credentials"]
)
PLAIN_KEYS = st.sampled_from(["host", "port", "username", "tls", "folders", "imap", "smtp", "x"])
PLAIN_TEXT = st.text(max_size=12).filter(lambda t: MARK not in t and not t.startswith("gAAAA"))
PLAIN_TEXT = PLAIN_TEXT.filter(lambda t: not t.startswith("fernet:"))
SECRETS = st.text(max_size=12).map(lambda t: MARK + t)
SEALED = st.text(max_size=12).map(lambda t: f"fernet:gAAAAB{MARK}{t}") | SECRETS.map(
    lambda t: "gAAAAA" + t
)
SCALARS = st.none() | st.booleans() | st.integers() | PLAIN_TEXT


def settings(leaves: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        leaves,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(PLAIN_KEYS, inner, max_size=4),
        max_leaves=20,
    )


PLAIN = settings(SCALARS)


@st.composite
def with_secrets(draw: st.DrawFn) -> Any:
    """Plain settings with secrets planted: under secret keys, and sealed values anywhere."""
    tree = draw(settings(SCALARS | SEALED))
    planted = draw(st.lists(st.tuples(SECRET_KEYS, SECRETS | settings(SECRETS)), max_size=3))
    return {"imap": tree, **dict(planted)} if planted else {"imap": tree, "password": MARK}


@given(with_secrets())
def test_no_secret_survives(value: Any) -> None:
    assert MARK not in json.dumps(redacted(value))


@given(PLAIN)
def test_settings_without_secrets_come_back_equal(value: Any) -> None:
    assert redacted(value) == value


@given(with_secrets())
def test_redaction_keeps_the_shape_and_leaves_its_input_alone(value: Any) -> None:
    before = copy.deepcopy(value)
    once = redacted(value)
    assert value == before
    assert redacted(once) == once
    assert once.keys() == value.keys()
    assert all(once[k] == REDACTED for k in value if k != "imap" and value[k])


def test_a_mailbox_keeps_everything_but_its_passwords() -> None:
    settings = {
        "allow_plaintext": False,
        "imap": {"host": "imap.acme.test", "port": 993, "password": "fernet:gAAAAABxyz"},
        "smtp": {"host": "smtp.acme.test", "username": "sales", "password": None},
    }
    assert redacted(settings) == {
        "allow_plaintext": False,
        "imap": {"host": "imap.acme.test", "port": 993, "password": REDACTED},
        "smtp": {"host": "smtp.acme.test", "username": "sales", "password": None},
    }
