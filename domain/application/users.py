"""Users of a company and their access tokens: registration, changes, issue and revoke."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from uuid import UUID

from domain import ids
from domain.actors import Actor
from domain.agent import Agent
from domain.application.base import Repositories, Saved, retried_on_conflict
from domain.errors import (
    AgentNotFound,
    InvalidInput,
    NotFound,
    QueueClosed,
    QueueNotFound,
    RuleViolated,
)
from domain.records import AccessToken


class UnknownQueue(InvalidInput):
    code = "unknown-queue"


class LastAdmin(RuleViolated):
    code = "last-admin"


class TokenNotFound(NotFound):
    code = "token-not-found"


class Unchanged(Enum):
    """Marks a field a partial change leaves alone where None already means something."""

    UNCHANGED = "unchanged"


UNCHANGED = Unchanged.UNCHANGED


@dataclass(frozen=True)
class UserChange:
    """A partial change of a user: None (or UNCHANGED) leaves the field as it is."""

    role: str | None = None
    queue_ids: Sequence[UUID] | None = None
    visible_queue_ids: Sequence[UUID] | Unchanged | None = UNCHANGED  # None: every queue
    capacity: int | None = None


class UserAdministration(Repositories):
    """Admins' commands on the company's users; users' commands on their own tokens."""

    def _queues_of(
        self, company_id: UUID, queue_ids: Sequence[UUID], *, open_only: bool
    ) -> list[UUID]:
        """The ids, checked to be queues of the company (else 422), and open if asked."""
        for queue_id in queue_ids:
            try:
                queue = self.queue(queue_id, company_id)
            except QueueNotFound:
                raise UnknownQueue(f"{queue_id} is not a queue of this company") from None
            if open_only and queue.is_closed:
                raise QueueClosed(f"queue {queue_id} is closed")
        return list(dict.fromkeys(queue_ids))

    def register_user(
        self,
        user_id: UUID,
        company_id: UUID,
        *,
        name: str,
        email: str,
        role: str,
        queue_ids: Sequence[UUID],
        capacity: int,
        token_hash: str,
        by: Actor,
        at: datetime,
    ) -> Saved:
        self.company(company_id)
        agent = Agent.register(
            user_id,
            company_id,
            name=name,
            email=email,
            role=role,
            queue_ids=self._queues_of(company_id, queue_ids, open_only=True),
            capacity=capacity,
            actor=str(by),
            at=at,
        )
        batch = self.batch()
        batch.add(self._token(token_hash, agent, label=None, expires_at=None, by=by, at=at))
        return batch.saved(agent)

    @retried_on_conflict
    def change_user(
        self,
        user_id: UUID,
        change: UserChange,
        *,
        scope: UUID,
        admin_candidates: Sequence[UUID],
        by: Actor,
        at: datetime,
    ) -> Saved:
        """Role, queue memberships, visible queues and capacity, saved together or not at all.

        `admin_candidates` are the company's admins as a read model lists them; demoting an
        admin needs one of them to still be an admin in its own aggregate.
        """
        agent = self.agent(user_id, scope)
        queues = change.queue_ids
        if queues is not None:
            queues = self._queues_of(scope, queues, open_only=True)
        visible = change.visible_queue_ids
        if visible is not UNCHANGED and visible is not None:
            visible = self._queues_of(scope, visible, open_only=False)
        actor = str(by)
        if change.role is not None and change.role != agent.role:
            if agent.role == "admin":
                self._keep_an_admin(agent, admin_candidates)
            agent.set_role(change.role, actor=actor, at=at)
        if queues is not None:
            for queue_id in [q for q in agent.queue_ids if q not in queues]:
                agent.leave_queue(queue_id, actor=actor, at=at)
            for queue_id in [q for q in queues if q not in agent.queue_ids]:
                agent.join_queue(queue_id, actor=actor, at=at)
        if visible is not UNCHANGED and visible != agent.visible_queue_ids:
            agent.set_access_profile(visible, actor=actor, at=at)
        if change.capacity is not None and change.capacity != agent.capacity:
            agent.set_capacity(change.capacity, actor=actor, at=at)
        return self.batch().saved(agent)

    def _keep_an_admin(self, agent: Agent, admin_candidates: Sequence[UUID]) -> None:
        for candidate in admin_candidates:
            if candidate == agent.id:
                continue
            try:
                if self.agent(candidate, agent.company_id).role == "admin":
                    return
            except AgentNotFound:
                continue
        raise LastAdmin(f"user {agent.id} is the company's last admin")

    def _token(
        self,
        token_hash: str,
        agent: Agent,
        *,
        label: str | None,
        expires_at: datetime | None,
        by: Actor,
        at: datetime,
    ) -> AccessToken:
        return AccessToken.issue(
            ids.token_id(token_hash),
            user_id=agent.id,
            company_id=agent.company_id,
            label=label,
            expires_at=expires_at,
            actor=str(by),
            at=at,
        )

    def issue_token(
        self,
        user_id: UUID,
        token_hash: str,
        *,
        label: str | None = None,
        expires_at: datetime | None,
        scope: UUID | None,
        by: Actor,
        at: datetime,
    ) -> Saved:
        agent = self.agent(user_id, scope)
        token = self._token(token_hash, agent, label=label, expires_at=expires_at, by=by, at=at)
        return self.batch().saved(token)

    @retried_on_conflict
    def revoke_token(
        self, token_id: UUID, *, user_id: UUID, scope: UUID, by: Actor, at: datetime
    ) -> Saved:
        """Revokes one of the user's tokens; revoking a revoked token again changes nothing."""
        token = self.token(token_id)
        if token is None or token.user_id != user_id or token.company_id != scope:
            raise TokenNotFound(f"user {user_id} has no token {token_id}")
        if not token.revoked:
            token.revoke(actor=str(by), at=at)
        return self.batch().saved(token)
