"""Audit log: every change to a company's configuration, with who, when, what and the details.

Mailbox settings carry sealed IMAP/SMTP passwords; `redacted` removes every secret before a
change is written here, so the audit log never holds a password, sealed or not, nor a token hash.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any
from uuid import UUID

from domain.agent import Agent
from domain.company import Company
from domain.queue import Queue
from domain.records import AccessToken
from projections.base import Projection, Row, Table, Tx, handles, iso, to_json
from projections.timeline import details, snake_case

REDACTED = "[redacted]"
_SECRET_NAME = re.compile(r"password|passwd|secret|token|api_?key|private_?key|credential", re.I)
_SEALED = ("fernet:", "gAAAA")  # our sealed secrets, and bare Fernet tokens
COLUMNS = "position, at, actor, type, subject_kind, subject_id, subject_name, details"

COMPANY_EVENTS = (
    Company.OpenLimitSet,
    Company.RoutingRulesReplaced,
    Company.DispositionsDefined,
    Company.SubstatusesDefined,
    Company.DistributionSettingsSet,
)
MAILBOX_EVENTS = (Company.MailboxAdded, Company.MailboxChanged, Company.MailboxRemoved)
QUEUE_EVENTS = (Queue.Renamed, Queue.PrioritySet, Queue.Closed)
AGENT_EVENTS = (
    Agent.RoleSet,
    Agent.JoinedQueue,
    Agent.LeftQueue,
    Agent.AccessProfileSet,
    Agent.CapacitySet,
)


def redacted(value: Any) -> Any:
    """A copy without secrets: values under secret-sounding keys, and sealed strings anywhere."""
    if isinstance(value, dict):
        return {
            key: REDACTED if _is_secret_name(key) and value[key] else redacted(value[key])
            for key in value
        }
    if isinstance(value, list | tuple):
        return [redacted(item) for item in value]
    if isinstance(value, str) and value.startswith(_SEALED):
        return REDACTED
    return value


def _is_secret_name(key: object) -> bool:
    return isinstance(key, str) and _SECRET_NAME.search(key) is not None


def event_type(event_class: type) -> str:
    """`company_open_limit_set`, `queue_renamed`, `access_token_issued`: aggregate and event."""
    aggregate, name = event_class.__qualname__.split(".")[-2:]
    return f"{snake_case(aggregate)}_{snake_case(name)}"


class AuditLog(Projection):
    """One row per configuration change of a company, newest first when read."""

    name = "audit_log"
    tables = (
        Table(
            "entries",
            "company_id TEXT NOT NULL, position BIGINT NOT NULL, at TEXT NOT NULL, "
            "actor TEXT NOT NULL, type TEXT NOT NULL, subject_kind TEXT NOT NULL, "
            "subject_id TEXT NOT NULL, subject_name TEXT, details TEXT NOT NULL",
            "company_id, position",
            indexes=("company_id, at", "company_id, type, position"),
        ),
        # what each change is about, so that events naming only an id find their company
        Table(
            "subjects",
            "subject_id TEXT NOT NULL, company_id TEXT NOT NULL, kind TEXT NOT NULL, "
            "name TEXT, user_id TEXT",
            "subject_id",
        ),
    )

    @handles(Company.Created)
    def _company_created(self, tx: Tx, e: Company.Created, position: int) -> None:
        self._remember(tx, e.originator_id, e.originator_id, "company", e.name)
        self._entry(tx, e, position, e.originator_id, ("company", e.originator_id, e.name))

    @handles(*COMPANY_EVENTS)
    def _company_changed(self, tx: Tx, e: Any, position: int) -> None:
        company = self._subject(tx, e.originator_id)
        self._entry(tx, e, position, e.originator_id, ("company", e.originator_id, company["name"]))

    @handles(*MAILBOX_EVENTS)
    def _mailbox_changed(self, tx: Tx, e: Any, position: int) -> None:
        address = getattr(e, "address", None)
        if address is None:
            address = self._subject(tx, e.mailbox_id)["name"]
        else:
            self._remember(tx, e.mailbox_id, e.originator_id, "mailbox", address)
        self._entry(tx, e, position, e.originator_id, ("mailbox", e.mailbox_id, address))

    @handles(Queue.Created)
    def _queue_created(self, tx: Tx, e: Queue.Created, position: int) -> None:
        self._remember(tx, e.originator_id, e.company_id, "queue", e.name)
        self._entry(tx, e, position, e.company_id, ("queue", e.originator_id, e.name))

    @handles(*QUEUE_EVENTS)
    def _queue_changed(self, tx: Tx, e: Any, position: int) -> None:
        queue = self._subject(tx, e.originator_id)
        if isinstance(e, Queue.Renamed):
            self._remember(tx, e.originator_id, queue["company_id"], "queue", e.name)
            queue["name"] = e.name
        subject = ("queue", e.originator_id, queue["name"])
        self._entry(tx, e, position, queue["company_id"], subject)

    @handles(Agent.Registered)
    def _user_registered(self, tx: Tx, e: Agent.Registered, position: int) -> None:
        self._remember(tx, e.originator_id, e.company_id, "user", e.name)
        self._entry(tx, e, position, e.company_id, ("user", e.originator_id, e.name))
        tx.execute(  # the user's first token is saved just before the user
            "UPDATE {entries} SET subject_name = ? WHERE company_id = ? AND subject_kind = ? "
            "AND subject_id = ? AND subject_name IS NULL",
            e.name,
            e.company_id,
            "user",
            e.originator_id,
        )

    @handles(*AGENT_EVENTS)
    def _user_changed(self, tx: Tx, e: Any, position: int) -> None:
        user = self._subject(tx, e.originator_id)
        subject = ("user", e.originator_id, user["name"])
        self._entry(tx, e, position, user["company_id"], subject)

    @handles(AccessToken.Issued)
    def _token_issued(self, tx: Tx, e: AccessToken.Issued, position: int) -> None:
        self._remember(tx, e.originator_id, e.company_id, "token", None, user_id=e.user_id)
        self._entry(tx, e, position, e.company_id, ("user", e.user_id, self._name(tx, e.user_id)))

    @handles(AccessToken.Revoked)
    def _token_revoked(self, tx: Tx, e: AccessToken.Revoked, position: int) -> None:
        token = self._subject(tx, e.originator_id)
        subject = ("user", token["user_id"], self._name(tx, token["user_id"]))
        self._entry(tx, e, position, token["company_id"], subject, {"user_id": token["user_id"]})

    def _remember(
        self,
        tx: Tx,
        subject_id: UUID,
        company_id: UUID,
        kind: str,
        name: str | None,
        *,
        user_id: UUID | None = None,
    ) -> None:
        tx.execute(
            "INSERT INTO {subjects} (subject_id, company_id, kind, name, user_id) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (subject_id) DO UPDATE SET name = excluded.name",
            subject_id,
            company_id,
            kind,
            name,
            user_id,
        )

    def _subject(self, tx: Tx, subject_id: UUID) -> Row:
        row = tx.execute(
            "SELECT company_id, kind, name, user_id FROM {subjects} WHERE subject_id = ?",
            subject_id,
        ).one()
        if row is None:
            raise LookupError(f"the audit log never saw {subject_id} created")
        return row

    def _name(self, tx: Tx, subject_id: UUID | str) -> str | None:
        row = tx.execute("SELECT name FROM {subjects} WHERE subject_id = ?", subject_id).one()
        return None if row is None else row["name"]

    def _entry(
        self,
        tx: Tx,
        e: Any,
        position: int,
        company_id: UUID | str,
        subject: tuple[str, UUID | str, str | None],
        extra: dict[str, Any] | None = None,
    ) -> None:
        own = {k: v for k, v in details(e).items() if k not in ("company_id", "token_hash")}
        tx.insert(
            "entries",
            company_id=company_id,
            position=position,
            at=e.timestamp,
            actor=e.actor,
            type=event_type(type(e)),
            subject_kind=subject[0],
            subject_id=subject[1],
            subject_name=subject[2],
            details=to_json(redacted(json.loads(to_json({**own, **(extra or {})})))),
        )

    def entries(
        self,
        company_id: UUID,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        type: str | None = None,
        actor: str | None = None,
        before: int | None = None,
        limit: int = 50,
    ) -> list[Row]:
        """Newest first; `since` inclusive, `until` exclusive, `before` a position (a cursor)."""
        where: list[str] = ["company_id = ?"]
        params: list[Any] = [company_id]
        for clause, value in (
            ("at >= ?", None if since is None else iso(since)),
            ("at < ?", None if until is None else iso(until)),
            ("type = ?", type),
            ("actor = ?", actor),
            ("position < ?", before),
        ):
            if value is not None:
                where.append(clause)
                params.append(value)
        rows = self.view.select(
            f"SELECT {COLUMNS} FROM {{entries}} WHERE {' AND '.join(where)} "
            "ORDER BY position DESC LIMIT ?",
            *params,
            limit,
        )
        return [{**row, "details": json.loads(row["details"])} for row in rows]
