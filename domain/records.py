"""Small records kept in the event store: emails, quarantined input, access tokens."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import InvalidInput, RuleViolated
from domain.ids import message_record_id


class MessageRecord(Aggregate):
    """One email of a company, in or out: the Message-ID index used for threading."""

    class Recorded(Aggregate.Created):
        company_id: UUID
        rfc_message_id: str
        interaction_id: UUID
        direction: str
        blob: str

    @staticmethod
    def create_id(company_id: UUID, rfc_message_id: str) -> UUID:
        return message_record_id(company_id, rfc_message_id)

    @event(Recorded)
    def __init__(
        self,
        *,
        company_id: UUID,
        rfc_message_id: str,
        interaction_id: UUID,
        direction: str,
        blob: str,
        timestamp: datetime,
    ) -> None:
        self.company_id, self.rfc_message_id = company_id, rfc_message_id
        self.interaction_id, self.direction, self.blob = interaction_id, direction, blob


class QuarantinedMessage(Aggregate):
    """Input that could not become an interaction, kept with its raw bytes for an admin."""

    class Quarantined(Aggregate.Created):
        company_id: UUID
        blob: str
        reason: str
        source: str
        actor: str

    class Released(Aggregate.Event):
        interaction_id: UUID | None
        actor: str

    @event(Quarantined)
    def __init__(
        self,
        *,
        id: UUID,
        company_id: UUID,
        blob: str,
        reason: str,
        source: str,
        actor: str,
        timestamp: datetime,
    ) -> None:
        self.company_id, self.blob, self.reason, self.source = company_id, blob, reason, source
        self.released = False

    def release(self, interaction_id: UUID | None, *, actor: str, at: datetime) -> None:
        if self.released:
            raise RuleViolated(f"quarantined message {self.id} was already released")
        self._released(interaction_id=interaction_id, actor=actor, timestamp=at)

    @event(Released)
    def _released(self, interaction_id: UUID | None, actor: str, timestamp: datetime) -> None:
        self.released = True


MAX_TOKEN_LABEL = 100


class AccessToken(Aggregate):
    """A bearer token of one user, known only by its hash; its id derives from that hash."""

    class Issued(Aggregate.Created):
        user_id: UUID
        company_id: UUID
        expires_at: datetime | None
        actor: str
        label: str | None

        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, object]) -> None:
            state["label"] = None  # tokens issued before labels existed

    class Revoked(Aggregate.Event):
        actor: str

    @event(Issued)
    def __init__(
        self,
        *,
        id: UUID,
        user_id: UUID,
        company_id: UUID,
        expires_at: datetime | None,
        actor: str,
        label: str | None,
        timestamp: datetime,
    ) -> None:
        self.user_id, self.company_id, self.expires_at = user_id, company_id, expires_at
        self.label = label
        self.revoked = False

    @classmethod
    def issue(
        cls,
        token_id: UUID,
        *,
        user_id: UUID,
        company_id: UUID,
        label: str | None,
        expires_at: datetime | None,
        actor: str,
        at: datetime,
    ) -> AccessToken:
        if label is not None and not 1 <= len(label.strip()) <= MAX_TOKEN_LABEL:
            raise InvalidInput(f"a token label is 1-{MAX_TOKEN_LABEL} characters")
        if expires_at is not None and expires_at <= at:
            raise InvalidInput("a token's expiry must be in the future")
        return cls(
            id=token_id,
            user_id=user_id,
            company_id=company_id,
            expires_at=expires_at,
            actor=actor,
            label=None if label is None else label.strip(),
            timestamp=at,
        )

    def is_valid_at(self, at: datetime) -> bool:
        return not self.revoked and (self.expires_at is None or at < self.expires_at)

    def revoke(self, *, actor: str, at: datetime) -> None:
        if self.revoked:
            raise RuleViolated(f"token {self.id} is already revoked")
        self._revoked(actor=actor, timestamp=at)

    @event(Revoked)
    def _revoked(self, actor: str, timestamp: datetime) -> None:
        self.revoked = True
