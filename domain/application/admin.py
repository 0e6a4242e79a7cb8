"""Company configuration: companies, queues, users and their tokens, mailboxes, rules."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from domain.actors import Actor
from domain.agent import Agent
from domain.application.base import Repositories, Saved, retried_on_conflict
from domain.company import Company
from domain.errors import QueueClosed
from domain.ids import token_id
from domain.queue import Queue
from domain.quota import CompanyQuota
from domain.records import AccessToken


class Administration(Repositories):
    """Commands of the operator and of company admins."""

    def create_company(
        self,
        company_id: UUID,
        *,
        name: str,
        timezone: str,
        open_limit: int,
        by: Actor,
        at: datetime,
    ) -> Saved:
        company = Company.create(company_id, name, timezone, open_limit, actor=str(by), at=at)
        quota = CompanyQuota(company_id=company_id, timestamp=at)
        batch = self.batch()
        batch.add(quota)
        return batch.saved(company)

    def create_queue(
        self, queue_id: UUID, company_id: UUID, *, name: str, priority: int, by: Actor, at: datetime
    ) -> Saved:
        self.company(company_id)
        queue = Queue.create(queue_id, company_id, name, priority, actor=str(by), at=at)
        return self.batch().saved(queue)

    def _open_queues(self, company_id: UUID, queue_ids: Sequence[UUID]) -> list[UUID]:
        for queue_id in queue_ids:
            if self.queue(queue_id, company_id).is_closed:
                raise QueueClosed(f"queue {queue_id} is closed")
        return list(queue_ids)

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
            queue_ids=self._open_queues(company_id, queue_ids),
            capacity=capacity,
            actor=str(by),
            at=at,
        )
        batch = self.batch()
        batch.add(self._token(token_hash, agent, expires_at=None, by=by, at=at))
        return batch.saved(agent)

    def _token(
        self, token_hash: str, agent: Agent, *, expires_at: datetime | None, by: Actor, at: datetime
    ) -> AccessToken:
        return AccessToken(
            id=token_id(token_hash),
            user_id=agent.id,
            company_id=agent.company_id,
            expires_at=expires_at,
            actor=str(by),
            timestamp=at,
        )

    def issue_token(
        self,
        user_id: UUID,
        token_hash: str,
        *,
        expires_at: datetime | None,
        scope: UUID | None,
        by: Actor,
        at: datetime,
    ) -> Saved:
        agent = self.agent(user_id, scope)
        return self.batch().saved(
            self._token(token_hash, agent, expires_at=expires_at, by=by, at=at)
        )

    @retried_on_conflict
    def revoke_token(self, token_hash: str, *, by: Actor, at: datetime) -> None:
        token = self.token(token_id(token_hash))
        if token is not None:
            token.revoke(actor=str(by), at=at)
            self.save(token)

    @retried_on_conflict
    def set_queue_membership(
        self, user_id: UUID, queue_id: UUID, *, member: bool, scope: UUID, by: Actor, at: datetime
    ) -> Saved:
        agent = self.agent(user_id, scope)
        self.queue(queue_id, scope)
        if member:
            agent.join_queue(queue_id, actor=str(by), at=at)
        else:
            agent.leave_queue(queue_id, actor=str(by), at=at)
        return self.batch().saved(agent)

    @retried_on_conflict
    def add_mailbox(
        self,
        company_id: UUID,
        mailbox_id: UUID,
        *,
        address: str,
        default_queue_id: UUID,
        settings: dict[str, Any] | None = None,
        by: Actor,
        at: datetime,
    ) -> Saved:
        company = self.company(company_id)
        self._open_queues(company_id, [default_queue_id])
        company.add_mailbox(
            mailbox_id, address, default_queue_id, settings=settings, actor=str(by), at=at
        )
        return self.batch().saved(company)

    @retried_on_conflict
    def change_mailbox(
        self,
        company_id: UUID,
        mailbox_id: UUID,
        *,
        address: str,
        default_queue_id: UUID,
        settings: dict[str, Any] | None = None,
        by: Actor,
        at: datetime,
    ) -> Saved:
        company = self.company(company_id)
        self._open_queues(company_id, [default_queue_id])
        company.change_mailbox(
            mailbox_id, address, default_queue_id, settings=settings, actor=str(by), at=at
        )
        return self.batch().saved(company)

    @retried_on_conflict
    def remove_mailbox(
        self, company_id: UUID, mailbox_id: UUID, *, by: Actor, at: datetime
    ) -> Saved:
        company = self.company(company_id)
        company.remove_mailbox(mailbox_id, actor=str(by), at=at)
        return self.batch().saved(company)

    @retried_on_conflict
    def replace_routing_rules(
        self, company_id: UUID, rules: Sequence[Mapping[str, Any]], *, by: Actor, at: datetime
    ) -> Saved:
        company = self.company(company_id)
        parsed = company.replace_routing_rules(rules, actor=str(by), at=at)
        self._open_queues(company_id, [UUID(rule.queue_id) for rule in parsed])
        return self.batch().saved(company)

    @retried_on_conflict
    def set_open_limit(
        self, company_id: UUID, open_limit: int, *, by: Actor, at: datetime
    ) -> Saved:
        company = self.company(company_id)
        company.set_open_limit(open_limit, actor=str(by), at=at)
        return self.batch().saved(company)

    @retried_on_conflict
    def define_dispositions(
        self,
        company_id: UUID,
        tree: list[dict[str, Any]],
        *,
        mandatory: bool,
        default: list[str] | None,
        timeout_seconds: int | None,
        by: Actor,
        at: datetime,
    ) -> Saved:
        company = self.company(company_id)
        company.define_dispositions(
            tree,
            mandatory=mandatory,
            default=default,
            timeout_seconds=timeout_seconds,
            actor=str(by),
            at=at,
        )
        return self.batch().saved(company)

    @retried_on_conflict
    def define_substatuses(
        self, company_id: UUID, substatuses: list[str], *, by: Actor, at: datetime
    ) -> Saved:
        company = self.company(company_id)
        company.define_substatuses(substatuses, actor=str(by), at=at)
        return self.batch().saved(company)
