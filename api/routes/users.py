"""A company's users and their access tokens: admins manage users, users their own tokens."""

from __future__ import annotations

from uuid import UUID, uuid4

from fastapi import APIRouter, status

from adapters.mime import parse_address
from api.auth import Principal
from api.bootstrap import Services, hash_token, new_token
from api.deps import CurrentUser, ServicesDep, await_position
from api.presenters import user_out
from api.problems import ApiProblem
from api.schemas.companies import (
    NewTokenOut,
    NewUserOut,
    TokenIn,
    TokenListOut,
    TokenOut,
    UserDetailOut,
    UserIn,
    UserListOut,
    UserPatchIn,
    UserSummaryOut,
)
from domain.agent import Agent
from domain.application.users import UNCHANGED, UserChange

router = APIRouter(prefix="/v1/companies/{company_id}/users", tags=["users"])
MAX_LISTED_USERS = 500  # companies of this size list in one answer; `truncated` says if not


def detail_out(agent: Agent, position: int) -> UserDetailOut:
    visible = None if agent.visible_queue_ids is None else list(agent.visible_queue_ids)
    return UserDetailOut(**user_out(agent, position).model_dump(), visible_queues=visible)


@router.post("", status_code=status.HTTP_201_CREATED)
def create_user(
    company_id: UUID, body: UserIn, user: CurrentUser, services: ServicesDep
) -> NewUserOut:
    """Register a user; the answer carries their bearer token, shown only this once."""
    if not user.is_operator:
        user.scope(company_id, "admin")
    elif body.role != "admin":
        raise ApiProblem(403, "operator-only", "the operator registers a company's admins only")
    token = new_token()
    saved = services.app.register_user(
        uuid4(),
        company_id,
        name=body.name,
        email=parse_address(body.email).address,
        role=body.role,
        queue_ids=body.queues,
        capacity=body.capacity,
        token_hash=hash_token(token),
        by=user.actor,
        at=services.clock(),
    )
    return NewUserOut(**user_out(saved.aggregate, saved.position).model_dump(), token=token)


@router.get("")
def list_users(
    company_id: UUID, user: CurrentUser, services: ServicesDep, min_position: int = 0
) -> UserListOut:
    """The company's users by name, at most 500 in one answer."""
    scope = user.scope(company_id, "admin")
    await_position(services, min_position)
    rows = services.read.users.of_company(scope, limit=MAX_LISTED_USERS + 1)
    items = [
        UserSummaryOut(
            id=row["user_id"],
            name=row["name"],
            email=row["email"],
            role=row["role"],
            queues=row["queue_ids"],
            visible_queues=row["visible_queue_ids"],
            capacity=row["capacity"],
            registered_at=row["registered_at"],
        )
        for row in rows[:MAX_LISTED_USERS]
    ]
    return UserListOut(items=items, truncated=len(rows) > MAX_LISTED_USERS)


@router.get("/{user_id}")
def get_user(
    company_id: UUID, user_id: UUID, user: CurrentUser, services: ServicesDep
) -> UserDetailOut:
    """One user as their own events say now: role, queues, visible queues, capacity, presence."""
    return detail_out(services.app.agent(user_id, user.scope(company_id, "admin")), 0)


@router.patch("/{user_id}")
def change_user(
    company_id: UUID, user_id: UUID, body: UserPatchIn, user: CurrentUser, services: ServicesDep
) -> UserDetailOut:
    """Change role, queues, visible queues (null: all) or capacity; a company keeps an admin."""
    scope = user.scope(company_id, "admin")
    visible = body.visible_queues if "visible_queues" in body.model_fields_set else UNCHANGED
    change = UserChange(
        role=body.role, queue_ids=body.queues, visible_queue_ids=visible, capacity=body.capacity
    )
    saved = services.app.change_user(
        user_id,
        change,
        scope=scope,
        admin_candidates=services.read.users.admin_ids(scope),
        by=user.actor,
        at=services.clock(),
    )
    return detail_out(saved.aggregate, saved.position)


def token_owner(services: Services, user: Principal, company_id: UUID, user_id: UUID) -> UUID:
    """The company, once the user is found in it and the caller is that user or an admin."""
    scope = user.scope(company_id)
    services.app.agent(user_id, scope)
    if user.role != "admin" and user.user_id != user_id:
        raise ApiProblem(403, "own-tokens-only", "users manage only their own tokens")
    return scope


@router.post("/{user_id}/tokens", status_code=status.HTTP_201_CREATED)
def issue_token(
    company_id: UUID,
    user_id: UUID,
    user: CurrentUser,
    services: ServicesDep,
    body: TokenIn | None = None,
) -> NewTokenOut:
    """Issue a bearer token for the user, optionally labelled and expiring; shown only once."""
    scope = token_owner(services, user, company_id, user_id)
    body, token = body or TokenIn(), new_token()
    saved = services.app.issue_token(
        user_id,
        hash_token(token),
        label=body.label,
        expires_at=body.expires_at,
        scope=scope,
        by=user.actor,
        at=services.clock(),
    )
    issued = saved.aggregate
    return NewTokenOut(
        id=issued.id,
        token=token,
        label=issued.label,
        created_at=issued.created_on,
        expires_at=issued.expires_at,
        position=saved.position,
    )


@router.get("/{user_id}/tokens")
def list_tokens(
    company_id: UUID,
    user_id: UUID,
    user: CurrentUser,
    services: ServicesDep,
    min_position: int = 0,
) -> TokenListOut:
    """The user's tokens, newest first, revoked ones included: metadata only."""
    token_owner(services, user, company_id, user_id)
    await_position(services, min_position)
    rows = services.read.access_tokens.of_user(user_id)
    return TokenListOut(items=[TokenOut(id=row.pop("token_id"), **row) for row in rows])


@router.delete("/{user_id}/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_token(
    company_id: UUID, user_id: UUID, token_id: UUID, user: CurrentUser, services: ServicesDep
) -> None:
    """Revoke a token at once; revoking it again also answers 204 and records nothing."""
    scope = token_owner(services, user, company_id, user_id)
    services.app.revoke_token(
        token_id, user_id=user_id, scope=scope, by=user.actor, at=services.clock()
    )
