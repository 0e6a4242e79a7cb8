"""Company configuration: companies, queues, mailboxes, rules (users: `users.py`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from domain.actors import Actor
from domain.application.base import Saved, retried_on_conflict
from domain.application.users import UserAdministration
from domain.company import Company
from domain.errors import QueueClosed
from domain.queue import Queue
from domain.quota import CompanyQuota


class Administration(UserAdministration):
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
