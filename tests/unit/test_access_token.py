"""AccessToken: issued with an optional label and expiry, revoked once; old tokens still load."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.application import ContactCenter
from domain.errors import InvalidInput, RuleViolated
from domain.records import AccessToken
from tests.fakes import T0

USER, COMPANY = uuid4(), uuid4()


def issued(**overrides: object) -> AccessToken:
    values: dict[str, object] = {
        "user_id": USER,
        "company_id": COMPANY,
        "label": None,
        "expires_at": None,
        "actor": "admin:x",
        "at": T0,
        **overrides,
    }
    return AccessToken.issue(uuid4(), **values)  # type: ignore[arg-type]


def test_a_token_is_valid_until_it_expires_or_is_revoked() -> None:
    token = issued(label="  laptop ", expires_at=T0 + timedelta(hours=1))
    assert token.label == "laptop"
    assert token.is_valid_at(T0 + timedelta(minutes=59))
    assert not token.is_valid_at(T0 + timedelta(hours=1))
    forever = issued()
    forever.revoke(actor="agent:y", at=T0 + timedelta(minutes=1))
    assert not forever.is_valid_at(T0 + timedelta(minutes=2))
    with pytest.raises(RuleViolated):
        forever.revoke(actor="agent:y", at=T0 + timedelta(minutes=3))


@given(st.text(max_size=150))
def test_labels_are_one_to_a_hundred_characters(label: str) -> None:
    if 1 <= len(label.strip()) <= 100:
        assert issued(label=label).label == label.strip()
    else:
        with pytest.raises(InvalidInput):
            issued(label=label)


@given(st.integers(min_value=-10_000, max_value=10_000))
def test_an_expiry_must_lie_in_the_future(seconds: int) -> None:
    expires_at = T0 + timedelta(seconds=seconds)
    if seconds > 0:
        assert issued(expires_at=expires_at).expires_at == expires_at
    else:
        with pytest.raises(InvalidInput):
            issued(expires_at=expires_at)


def test_a_token_stored_before_labels_existed_loads_without_one() -> None:
    app = ContactCenter()
    token = issued(expires_at=T0 + timedelta(days=1))
    stored = app.mapper.to_stored_event(token.collect_events()[0])
    state = json.loads(stored.state)
    assert state.pop("class_version") == 2
    del state["label"]
    app.recorder.insert_events([replace(stored, state=json.dumps(state).encode())])

    loaded = app.token(token.id)
    assert loaded is not None
    assert (loaded.label, loaded.user_id, loaded.expires_at) == (None, USER, token.expires_at)
    assert loaded.is_valid_at(T0 + timedelta(hours=1))
    app.close()
