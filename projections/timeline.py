"""Timeline: every event of an interaction, in order, with when, who, what and its details."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import fields
from functools import cache
from typing import Any
from uuid import UUID

from eventsourcing.domain import DomainEvent

from domain.interaction import Interaction
from projections.base import Projection, Row, Table, Tx, handles, to_json

INTERACTION_EVENTS = tuple(
    cls
    for name, cls in vars(Interaction).items()
    if isinstance(cls, type) and issubclass(cls, DomainEvent) and name not in ("Event", "Created")
)
ENVELOPE = frozenset(
    {"originator_id", "originator_version", "timestamp", "originator_topic", "actor"}
)


@cache
def snake_case(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


@cache
def own_fields(event_class: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(event_class) if f.name not in ENVELOPE)


def details(domain_event: Any) -> dict[str, Any]:
    """The event's own fields, without the envelope every event carries."""
    return {name: getattr(domain_event, name) for name in own_fields(domain_event.__class__)}


class Timeline(Projection):
    """One row per interaction event, for the audit timeline."""

    name = "timeline"
    tables = (
        Table(
            "entries",
            "interaction_id TEXT NOT NULL, seq BIGINT NOT NULL, "
            "company_id TEXT, position BIGINT NOT NULL, at TEXT NOT NULL, type TEXT NOT NULL, "
            "actor TEXT NOT NULL, details TEXT NOT NULL",
            "interaction_id, seq",
        ),
        Table(
            "interactions",
            "interaction_id TEXT NOT NULL, company_id TEXT NOT NULL",
            "interaction_id",
        ),
    )

    @handles(Interaction.Received, Interaction.Started)
    def _created(
        self, tx: Tx, e: Interaction.Received | Interaction.Started, position: int
    ) -> None:
        tx.rows("interactions").insert(
            {"interaction_id": e.originator_id, "company_id": e.company_id}
        )
        self._entry(tx, e, position)

    @handles(
        *(
            cls
            for cls in INTERACTION_EVENTS
            if cls not in (Interaction.Received, Interaction.Started)
        )
    )
    def _entry(self, tx: Tx, e: Any, position: int) -> None:
        interaction = tx.rows("interactions").get(e.originator_id)
        tx.rows("entries").insert(
            {
                "interaction_id": e.originator_id,
                "seq": e.originator_version,
                "company_id": interaction and interaction["company_id"],
                "position": position,
                "at": e.timestamp,
                "type": snake_case(type(e).__name__),
                "actor": e.actor,
                "details": to_json(details(e)),
            }
        )

    def prefetch(self, tx: Tx, domain_events: Sequence[Any]) -> None:
        tx.rows("interactions").load(e.originator_id for e in domain_events)

    def entries(self, interaction_id: UUID) -> list[Row]:
        """seq, position, at, type, actor and details of each event, oldest first."""
        rows = self.view.select(
            "SELECT seq, position, at, type, actor, details FROM {entries} "
            "WHERE interaction_id = ? ORDER BY seq",
            interaction_id,
        )
        return [{**row, "details": json.loads(row["details"])} for row in rows]

    def company_of(self, interaction_id: UUID) -> UUID | None:
        rows = self.view.select(
            "SELECT company_id FROM {interactions} WHERE interaction_id = ?", interaction_id
        )
        return UUID(rows[0]["company_id"]) if rows else None
