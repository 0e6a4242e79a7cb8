"""Users: the company's people with their role, queues, visible queues and capacity."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from domain.agent import Agent
from projections.base import Projection, Row, Table, Tx, handles, to_json

COLUMNS = "user_id, name, email, role, queue_ids, visible_queue_ids, capacity, registered_at"


class Users(Projection):
    """One row per user of a company, for the admins' user list and the last-admin rule."""

    name = "users"
    tables = (
        Table(
            "users",
            "user_id TEXT NOT NULL, company_id TEXT NOT NULL, name TEXT NOT NULL, "
            "email TEXT NOT NULL, role TEXT NOT NULL, queue_ids TEXT NOT NULL, "
            "visible_queue_ids TEXT, capacity INTEGER NOT NULL, registered_at TEXT NOT NULL",
            "user_id",
            indexes=("company_id, name", "company_id, role"),
        ),
    )

    @handles(Agent.Registered)
    def _registered(self, tx: Tx, e: Agent.Registered, position: int) -> None:
        tx.insert(
            "users",
            user_id=e.originator_id,
            company_id=e.company_id,
            name=e.name,
            email=e.email,
            role=e.role,
            queue_ids=to_json(e.queue_ids),
            capacity=e.capacity,
            registered_at=e.timestamp,
        )

    @handles(Agent.RoleSet)
    def _role_set(self, tx: Tx, e: Agent.RoleSet, position: int) -> None:
        self._set(tx, e.originator_id, role=e.role)

    @handles(Agent.CapacitySet)
    def _capacity_set(self, tx: Tx, e: Agent.CapacitySet, position: int) -> None:
        self._set(tx, e.originator_id, capacity=e.capacity)

    @handles(Agent.AccessProfileSet)
    def _access_profile_set(self, tx: Tx, e: Agent.AccessProfileSet, position: int) -> None:
        visible = None if e.visible_queue_ids is None else to_json(e.visible_queue_ids)
        self._set(tx, e.originator_id, visible_queue_ids=visible)

    @handles(Agent.JoinedQueue, Agent.LeftQueue)
    def _membership(self, tx: Tx, e: Any, position: int) -> None:
        row = tx.execute("SELECT queue_ids FROM {users} WHERE user_id = ?", e.originator_id).one()
        if row is None:
            raise LookupError(f"user {e.originator_id} was never registered")
        queue_ids = [q for q in json.loads(row["queue_ids"]) if q != str(e.queue_id)]
        if isinstance(e, Agent.JoinedQueue):
            queue_ids.append(str(e.queue_id))
        self._set(tx, e.originator_id, queue_ids=to_json(queue_ids))

    def _set(self, tx: Tx, user_id: UUID, **values: Any) -> None:
        assignments = ", ".join(f"{column} = ?" for column in values)
        tx.execute(
            f"UPDATE {{users}} SET {assignments} WHERE user_id = ?", *values.values(), user_id
        )

    def of_company(self, company_id: UUID, *, limit: int) -> list[Row]:
        """The company's users by name; queue lists as lists, visible queues None for all."""
        rows = self.view.select(
            f"SELECT {COLUMNS} FROM {{users}} WHERE company_id = ? ORDER BY name, user_id LIMIT ?",
            company_id,
            limit,
        )
        return [_decoded(row) for row in rows]

    def admin_ids(self, company_id: UUID) -> list[UUID]:
        rows = self.view.select(
            "SELECT user_id FROM {users} WHERE company_id = ? AND role = ? ORDER BY user_id",
            company_id,
            "admin",
        )
        return [UUID(row["user_id"]) for row in rows]


def _decoded(row: Row) -> Row:
    visible = row["visible_queue_ids"]
    return {
        **row,
        "queue_ids": json.loads(row["queue_ids"]),
        "visible_queue_ids": None if visible is None else json.loads(visible),
    }
