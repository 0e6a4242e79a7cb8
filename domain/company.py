"""Company: a tenant, with its open limit, mailboxes, routing rules, dispositions, sub-statuses."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from eventsourcing.domain import Aggregate, event

from domain.distribution import DistributionSettings
from domain.errors import (
    DispositionRequired,
    DuplicateMailbox,
    InvalidInput,
    InvalidTimezone,
    MailboxNotFound,
    UnknownDisposition,
    UnknownSubstatus,
)
from domain.routing import Rule, parse_rules, rules_to_payload

BUILT_IN_SUBSTATUSES = ("Pending",)
MAX_DISPOSITION_LEVELS = 3


def check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidTimezone(f"unknown time zone {name!r}") from None
    return name


def check_open_limit(limit: int) -> int:
    if not 1 <= limit <= 1_000_000:
        raise InvalidInput(f"open limit must be between 1 and 1000000, not {limit}")
    return limit


def _check_tree(tree: Sequence[Mapping[str, Any]], depth: int = 1) -> None:
    names = [node.get("name") for node in tree]
    if len(set(names)) != len(names):
        raise InvalidInput(f"duplicate disposition names at level {depth}")
    for node in tree:
        name, children = node.get("name"), node.get("children", [])
        if not isinstance(name, str) or not 1 <= len(name) <= 100:
            raise InvalidInput(f"disposition names are 1-100 characters, not {name!r}")
        if children and depth >= MAX_DISPOSITION_LEVELS:
            raise InvalidInput(f"dispositions have at most {MAX_DISPOSITION_LEVELS} levels")
        _check_tree(children, depth + 1)


def _path_in_tree(tree: Sequence[Mapping[str, Any]], path: Sequence[str]) -> bool:
    """A valid path names one node per level down to a leaf."""
    if not path:
        return not tree
    for node in tree:
        if node["name"] == path[0]:
            return _path_in_tree(node.get("children", []), path[1:])
    return False


class Company(Aggregate):
    """One tenant of inboxflow."""

    distribution_payload: dict[str, Any] | None = None  # a class default: older snapshots

    class Created(Aggregate.Created):
        name: str
        timezone: str
        open_limit: int
        actor: str

    class OpenLimitSet(Aggregate.Event):
        open_limit: int
        actor: str

    class MailboxAdded(Aggregate.Event):
        mailbox_id: UUID
        address: str
        default_queue_id: UUID
        settings: dict[str, Any]  # IMAP/SMTP/auto-reply; secrets arrive already encrypted
        actor: str

    class MailboxChanged(Aggregate.Event):
        mailbox_id: UUID
        address: str
        default_queue_id: UUID
        settings: dict[str, Any]
        actor: str

    class MailboxRemoved(Aggregate.Event):
        mailbox_id: UUID
        actor: str

    class RoutingRulesReplaced(Aggregate.Event):
        rules: list[dict[str, Any]]
        version: int
        actor: str

    class DispositionsDefined(Aggregate.Event):
        tree: list[dict[str, Any]]
        mandatory: bool
        default: list[str] | None
        timeout_seconds: int | None
        actor: str

    class SubstatusesDefined(Aggregate.Event):
        substatuses: list[str]
        actor: str

    class DistributionSettingsSet(Aggregate.Event):
        offer_timeout_seconds: int
        sticky_window_seconds: int
        parked_count_toward_capacity: bool
        max_parking_seconds: int | None
        inactivity_seconds: int
        actor: str

        def apply(self, aggregate: Any) -> None:
            settings = DistributionSettings(
                self.offer_timeout_seconds,
                self.sticky_window_seconds,
                self.parked_count_toward_capacity,
                self.max_parking_seconds,
                self.inactivity_seconds,
            )
            aggregate.distribution_payload = settings.payload()

    @event(Created)
    def __init__(
        self,
        *,
        id: UUID,
        name: str,
        timezone: str,
        open_limit: int,
        actor: str,
        timestamp: datetime,
    ) -> None:
        self.name, self.timezone, self.open_limit = name, timezone, open_limit
        self.mailboxes: dict[str, dict[str, Any]] = {}
        self.routing_rules: list[dict[str, Any]] = []
        self.routing_version = 0
        self.disposition_tree: list[dict[str, Any]] = []
        self.disposition_mandatory = False
        self.default_disposition: list[str] | None = None
        self.disposition_timeout_seconds: int | None = None
        self.substatuses: list[str] = list(BUILT_IN_SUBSTATUSES)

    @classmethod
    def create(
        cls,
        company_id: UUID,
        name: str,
        timezone: str,
        open_limit: int,
        *,
        actor: str,
        at: datetime,
    ) -> Company:
        if not 1 <= len(name.strip()) <= 200:
            raise InvalidInput("company name must be 1-200 characters")
        return cls(
            id=company_id,
            name=name.strip(),
            timezone=check_timezone(timezone),
            open_limit=check_open_limit(open_limit),
            actor=actor,
            timestamp=at,
        )

    def set_open_limit(self, open_limit: int, *, actor: str, at: datetime) -> None:
        self._open_limit_set(open_limit=check_open_limit(open_limit), actor=actor, timestamp=at)

    @event(OpenLimitSet)
    def _open_limit_set(self, open_limit: int, actor: str, timestamp: datetime) -> None:
        self.open_limit = open_limit

    def mailbox_by_address(self, address: str) -> dict[str, Any] | None:
        wanted = address.casefold()
        return next((m for m in self.mailboxes.values() if m["address"] == wanted), None)

    def add_mailbox(
        self,
        mailbox_id: UUID,
        address: str,
        default_queue_id: UUID,
        *,
        settings: dict[str, Any] | None = None,
        actor: str,
        at: datetime,
    ) -> None:
        if self.mailbox_by_address(address) is not None:
            raise DuplicateMailbox(f"company {self.id} already has a mailbox {address}")
        self._mailbox_added(
            mailbox_id=mailbox_id,
            address=address.casefold(),
            default_queue_id=default_queue_id,
            settings=settings or {},
            actor=actor,
            timestamp=at,
        )

    @event(MailboxAdded)
    def _mailbox_added(
        self,
        mailbox_id: UUID,
        address: str,
        default_queue_id: UUID,
        settings: dict[str, Any],
        actor: str,
        timestamp: datetime,
    ) -> None:
        self._put_mailbox(mailbox_id, address, default_queue_id, settings)

    def change_mailbox(
        self,
        mailbox_id: UUID,
        address: str,
        default_queue_id: UUID,
        *,
        settings: dict[str, Any] | None = None,
        actor: str,
        at: datetime,
    ) -> None:
        current = self._require_mailbox(mailbox_id)
        other = self.mailbox_by_address(address)
        if other is not None and other["id"] != str(mailbox_id):
            raise DuplicateMailbox(f"company {self.id} already has a mailbox {address}")
        self._mailbox_changed(
            mailbox_id=mailbox_id,
            address=address.casefold(),
            default_queue_id=default_queue_id,
            settings=current["settings"] if settings is None else settings,
            actor=actor,
            timestamp=at,
        )

    @event(MailboxChanged)
    def _mailbox_changed(
        self,
        mailbox_id: UUID,
        address: str,
        default_queue_id: UUID,
        settings: dict[str, Any],
        actor: str,
        timestamp: datetime,
    ) -> None:
        self._put_mailbox(mailbox_id, address, default_queue_id, settings)

    def _put_mailbox(
        self, mailbox_id: UUID, address: str, default_queue_id: UUID, settings: dict[str, Any]
    ) -> None:
        self.mailboxes[str(mailbox_id)] = {
            "id": str(mailbox_id),
            "address": address,
            "default_queue_id": str(default_queue_id),
            "settings": settings,
        }

    def remove_mailbox(self, mailbox_id: UUID, *, actor: str, at: datetime) -> None:
        self._require_mailbox(mailbox_id)
        self._mailbox_removed(mailbox_id=mailbox_id, actor=actor, timestamp=at)

    @event(MailboxRemoved)
    def _mailbox_removed(self, mailbox_id: UUID, actor: str, timestamp: datetime) -> None:
        del self.mailboxes[str(mailbox_id)]

    def _require_mailbox(self, mailbox_id: UUID) -> dict[str, Any]:
        try:
            return self.mailboxes[str(mailbox_id)]
        except KeyError:
            raise MailboxNotFound(f"company {self.id} has no mailbox {mailbox_id}") from None

    def replace_routing_rules(
        self, rules: Sequence[Mapping[str, object]], *, actor: str, at: datetime
    ) -> tuple[Rule, ...]:
        parsed = parse_rules(rules)
        self._routing_rules_replaced(
            rules=rules_to_payload(parsed),
            version=self.routing_version + 1,
            actor=actor,
            timestamp=at,
        )
        return parsed

    @event(RoutingRulesReplaced)
    def _routing_rules_replaced(
        self, rules: list[dict[str, Any]], version: int, actor: str, timestamp: datetime
    ) -> None:
        self.routing_rules, self.routing_version = rules, version

    def rules(self) -> tuple[Rule, ...]:
        return parse_rules(self.routing_rules)

    def define_dispositions(
        self,
        tree: list[dict[str, Any]],
        *,
        mandatory: bool,
        default: list[str] | None,
        timeout_seconds: int | None,
        actor: str,
        at: datetime,
    ) -> None:
        _check_tree(tree)
        if default is not None and not _path_in_tree(tree, default):
            raise UnknownDisposition(f"default disposition {default} is not in the tree")
        if timeout_seconds is not None and (timeout_seconds <= 0 or default is None):
            raise InvalidInput("a disposition timeout needs a default and must be positive")
        self._dispositions_defined(
            tree=tree,
            mandatory=mandatory,
            default=default,
            timeout_seconds=timeout_seconds,
            actor=actor,
            timestamp=at,
        )

    @event(DispositionsDefined)
    def _dispositions_defined(
        self,
        tree: list[dict[str, Any]],
        mandatory: bool,
        default: list[str] | None,
        timeout_seconds: int | None,
        actor: str,
        timestamp: datetime,
    ) -> None:
        self.disposition_tree, self.disposition_mandatory = tree, mandatory
        self.default_disposition, self.disposition_timeout_seconds = default, timeout_seconds

    def check_disposition(self, path: Sequence[str]) -> list[str]:
        """The path an interaction may close with, or the reason it may not."""
        if not path:
            if self.disposition_mandatory:
                raise DispositionRequired(f"company {self.id} requires a disposition to close")
            return []
        if not _path_in_tree(self.disposition_tree, path):
            raise UnknownDisposition(f"disposition {list(path)} is not defined for this company")
        return list(path)

    def define_substatuses(self, substatuses: list[str], *, actor: str, at: datetime) -> None:
        cleaned = [s.strip() for s in substatuses]
        if any(not 1 <= len(s) <= 60 for s in cleaned) or len(set(cleaned)) != len(cleaned):
            raise InvalidInput("sub-statuses are distinct names of 1-60 characters")
        merged = list(BUILT_IN_SUBSTATUSES) + [s for s in cleaned if s not in BUILT_IN_SUBSTATUSES]
        self._substatuses_defined(substatuses=merged, actor=actor, timestamp=at)

    @event(SubstatusesDefined)
    def _substatuses_defined(self, substatuses: list[str], actor: str, timestamp: datetime) -> None:
        self.substatuses = substatuses

    def check_substatus(self, substatus: str) -> str:
        if substatus not in self.substatuses:
            raise UnknownSubstatus(f"sub-status {substatus!r} is not defined for this company")
        return substatus

    @property
    def distribution(self) -> DistributionSettings:
        return DistributionSettings.from_payload(self.distribution_payload)

    def set_distribution(self, settings: DistributionSettings, *, actor: str, at: datetime) -> None:
        payload = settings.checked().payload()
        self.trigger_event(self.DistributionSettingsSet, **payload, actor=actor, timestamp=at)
