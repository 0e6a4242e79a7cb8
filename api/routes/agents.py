"""Agents' presence commands and their inbox."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter

from api.access import QueueFilter, every_queue, queue_filter
from api.auth import Principal
from api.bootstrap import Services
from api.deps import CurrentUser, ServicesDep, await_position
from api.presenters import user_out
from api.problems import ApiProblem
from api.schemas.companies import UserOut
from api.schemas.interactions import PauseIn
from domain.errors import AgentNotFound

router = APIRouter(prefix="/v1/agents", tags=["agents"])


def scope_for_agent(services: Services, user: Principal, agent_id: UUID) -> UUID:
    """Agents act for themselves; supervisors and admins for anyone of their company."""
    if user.company_id is None:
        raise AgentNotFound(f"no agent {agent_id}")
    services.app.agent(agent_id, user.company_id)  # another company's agent: 404 first
    if user.role == "agent" and user.user_id != agent_id:
        raise ApiProblem(403, "forbidden", "agents act only for themselves")
    return user.company_id


def shown_to(services: Services, user: Principal, agent_id: UUID) -> QueueFilter:
    """One's own work is shown whole; another agent's only in queues the caller sees."""
    return every_queue if user.actor.user_id == agent_id else queue_filter(services, user)


@router.get("/{agent_id}")
def get_agent(agent_id: UUID, user: CurrentUser, services: ServicesDep) -> UserOut:
    """An agent's presence and workload."""
    scope = scope_for_agent(services, user, agent_id)
    agent = services.app.agent(agent_id, scope)
    shows = shown_to(services, user, agent_id)
    if shows is every_queue:
        return user_out(agent, 0)
    held = [i for i in agent.held if shows(services.app.interaction(i, scope).queue_id)]
    active = agent.active if agent.active in held else None
    return user_out(agent, 0).model_copy(update={"held": held, "active": active})


def act(services: Services, user: Principal, agent_id: UUID, command: Any, *args: Any) -> UserOut:
    """Runs one presence command for the agent as the caller, and answers with the agent."""
    scope = scope_for_agent(services, user, agent_id)
    saved = command(agent_id, *args, scope=scope, by=user.actor, at=services.clock())
    return user_out(saved.aggregate, saved.position)


@router.post("/{agent_id}/login")
def login(agent_id: UUID, user: CurrentUser, services: ServicesDep) -> UserOut:
    """Log in: the agent becomes available for offers."""
    return act(services, user, agent_id, services.app.log_in)


@router.post("/{agent_id}/logout")
def logout(agent_id: UUID, user: CurrentUser, services: ServicesDep) -> UserOut:
    """Log out."""
    return act(services, user, agent_id, services.app.log_out)


@router.post("/{agent_id}/pause")
def pause(
    agent_id: UUID, user: CurrentUser, services: ServicesDep, body: PauseIn | None = None
) -> UserOut:
    """Pause with a reason: no new offers until unpaused."""
    return act(services, user, agent_id, services.app.pause, body.reason if body else "break")


@router.post("/{agent_id}/unpause")
def unpause(agent_id: UUID, user: CurrentUser, services: ServicesDep) -> UserOut:
    """End a pause."""
    return act(services, user, agent_id, services.app.unpause)


@router.post("/{agent_id}/call-started")
def call_started(agent_id: UUID, user: CurrentUser, services: ServicesDep) -> UserOut:
    """A voice call started: the active email is parked by the system."""
    return act(services, user, agent_id, services.app.start_call)


@router.post("/{agent_id}/call-ended")
def call_ended(agent_id: UUID, user: CurrentUser, services: ServicesDep) -> UserOut:
    """The call ended: the email it parked is resumed."""
    return act(services, user, agent_id, services.app.end_call)


@router.get("/{agent_id}/inbox")
def inbox(
    agent_id: UUID, user: CurrentUser, services: ServicesDep, min_position: int = 0
) -> dict[str, Any]:
    """The agent's offered, active and parked interactions (another user reading it sees
    those in queues their access profile shows)."""
    scope = scope_for_agent(services, user, agent_id)
    services.app.agent(agent_id, scope)
    shows = shown_to(services, user, agent_id)
    await_position(services, min_position)
    items = [
        item
        for item in services.read.agent_inbox.items(agent_id)
        if shows(None if item["queue_id"] is None else UUID(item["queue_id"]))
    ]
    return {"agent_id": str(agent_id), "items": items}
