"""Bearer tokens: the operator's from configuration, users' stored only as hashes."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from uuid import UUID

from api.bootstrap import Services, hash_token
from api.problems import ApiProblem
from domain.actors import OPERATOR, Actor
from domain.agent import check_role
from domain.errors import AgentNotFound, CompanyNotFound
from domain.ids import token_id


@dataclass(frozen=True)
class Principal:
    """Who is calling: the platform operator, or one user of one company."""

    actor: Actor
    company_id: UUID | None = None
    visible_queue_ids: tuple[UUID, ...] | None = None

    @property
    def is_operator(self) -> bool:
        return self.actor.kind == "operator"

    @property
    def user_id(self) -> UUID:
        if self.actor.user_id is None:
            raise ApiProblem(403, "users-only", "this action is for users of a company")
        return self.actor.user_id

    @property
    def role(self) -> str:
        return self.actor.kind

    def scope(self, company_id: UUID, *roles: str) -> UUID:
        """The company this caller may act in; any other answers 404, never 403."""
        if self.company_id != company_id:
            raise CompanyNotFound(f"no company {company_id}")
        if roles:
            self.require(*roles)
        return company_id

    def require(self, *roles: str) -> None:
        if self.role not in roles:
            raise ApiProblem(403, "forbidden", f"this action needs the role {' or '.join(roles)}")


MAX_TOKEN_LENGTH = 512


def authenticate(services: Services, authorization: str | None) -> Principal:
    """The caller of a `Bearer <token>` header: 401 when missing, malformed or not valid now."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise ApiProblem(401, "unauthenticated", "a bearer token is required")
    operator = services.settings.admin_token
    if operator and hmac.compare_digest(token.encode(), operator.encode()):
        return Principal(OPERATOR)
    if len(token) > MAX_TOKEN_LENGTH:
        raise ApiProblem(401, "invalid-token", "the token is unknown, revoked or expired")
    stored = services.app.token(token_id(hash_token(token)))
    if stored is None or not stored.is_valid_at(services.clock()):
        raise ApiProblem(401, "invalid-token", "the token is unknown, revoked or expired")
    try:
        user = services.app.agent(stored.user_id)
    except AgentNotFound:
        raise ApiProblem(401, "invalid-token", "the token's user no longer exists") from None
    visible = None  # admins, and users without a profile, see every queue
    if user.role != "admin" and user.visible_queue_ids is not None:
        visible = tuple(dict.fromkeys([*user.visible_queue_ids, *user.queue_ids]))
    return Principal(Actor.user(check_role(user.role), user.id), user.company_id, visible)
