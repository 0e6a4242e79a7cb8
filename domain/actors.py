"""Who did something: every event records it as a string such as `agent:<id>` or `system`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from uuid import UUID

Role = Literal["agent", "supervisor", "admin"]
ROLES: tuple[Role, ...] = ("agent", "supervisor", "admin")


@dataclass(frozen=True)
class Actor:
    kind: Literal["agent", "supervisor", "admin", "system", "customer", "operator"]
    user_id: UUID | None = None

    def __str__(self) -> str:
        return self.kind if self.user_id is None else f"{self.kind}:{self.user_id}"

    @property
    def is_agent(self) -> bool:
        return self.kind == "agent"

    @property
    def is_user(self) -> bool:
        return self.user_id is not None

    @classmethod
    def user(cls, role: Role, user_id: UUID) -> Actor:
        return cls(role, user_id)


SYSTEM = Actor("system")
CUSTOMER = Actor("customer")
OPERATOR = Actor("operator")
