"""Aggregates to wire shapes, for detail pages and command answers."""

from __future__ import annotations

from api.auth import Principal
from api.mailboxes import mailbox_out
from api.schemas.companies import CompanyOut, QueueOut, UserOut
from api.schemas.interactions import InteractionOut
from domain.agent import Agent
from domain.company import Company
from domain.interaction import Interaction
from domain.queue import Queue


def interaction_out(
    interaction: Interaction, position: int, caller: Principal, now_handling_ms: int
) -> InteractionOut:
    draft = interaction.draft
    if draft is not None and draft.get("agent_id") != str(caller.actor.user_id):
        draft = None  # a draft is seen only by the agent who saved it
    return InteractionOut(
        id=interaction.id,
        company_id=interaction.company_id,
        short_ref=interaction.short_ref,
        status=str(interaction.status),
        mailbox=interaction.mailbox,
        queue_id=interaction.queue_id,
        owner=interaction.owner,
        last_agent=interaction.last_agent,
        offered_to=interaction.offered_to,
        subject=interaction.subject,
        customer=interaction.customer,
        participants=list(interaction.participants),
        substatus=interaction.substatus,
        tags=list(interaction.tags),
        unread=interaction.unread,
        draft=draft,
        handling_ms=now_handling_ms,
        disposition=interaction.disposition,
        continues=interaction.continues,
        continued_in=interaction.continued_in,
        outbox=list(interaction.outbox),
        created_at=interaction.created_on,
        updated_at=interaction.modified_on,
        version=interaction.version,
        position=position,
    )


def company_out(company: Company, position: int) -> CompanyOut:
    return CompanyOut(
        id=company.id,
        name=company.name,
        timezone=company.timezone,
        open_limit=company.open_limit,
        mailboxes=[
            mailbox_out(company.id, m, position).model_dump(mode="json")
            for m in company.mailboxes.values()
        ],
        routing_rules=company.routing_rules,
        routing_version=company.routing_version,
        dispositions={
            "tree": company.disposition_tree,
            "mandatory": company.disposition_mandatory,
            "default": company.default_disposition,
            "timeout_seconds": company.disposition_timeout_seconds,
        },
        substatuses=company.substatuses,
        position=position,
    )


def user_out(agent: Agent, position: int) -> UserOut:
    return UserOut(
        id=agent.id,
        company_id=agent.company_id,
        name=agent.name,
        email=agent.email,
        role=agent.role,
        queues=list(agent.queue_ids),
        capacity=agent.capacity,
        logged_in=agent.logged_in,
        paused_reason=agent.paused_reason,
        on_call=agent.on_call,
        held=list(agent.held),
        active=agent.active,
        position=position,
    )


def queue_out(queue: Queue, position: int) -> QueueOut:
    return QueueOut(
        id=queue.id,
        company_id=queue.company_id,
        name=queue.name,
        priority=queue.priority,
        closed=queue.is_closed,
        position=position,
    )
