"""The write side: one eventsourcing Application; each method is load, command, save.

It never reads the clock, the environment or a driver: time and actor come in as values, and
storage is only `self.save` and `self.repository`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from threading import Lock, RLock
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import (
    AggregateNotFoundError,
    Application,
    ProcessingEvent,
    Repository,
)
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, Recording
from eventsourcing.utils import strtobool

from domain.actors import SYSTEM, Actor
from domain.agent import Agent
from domain.application.optimistic import StaleAggregate, TrustingRepository, current_attempt
from domain.application.optimistic import retried_on_conflict as retried_on_conflict
from domain.checkpoint import MailboxCheckpoint
from domain.company import Company
from domain.errors import (
    AgentNotFound,
    CompanyNotFound,
    InteractionNotFound,
    MessageNotFound,
    NotFound,
    QueueNotFound,
)
from domain.ids import message_record_id
from domain.interaction import Interaction
from domain.messages import OWNED, Status
from domain.queue import Queue
from domain.quota import CompanyQuota
from domain.records import AccessToken, MessageRecord, QuarantinedMessage

A = TypeVar("A", bound=Aggregate)


@dataclass(frozen=True)
class Saved:
    """A command's outcome: the aggregate as it now is, and the log position to wait for."""

    aggregate: Any
    position: int


class Repositories(Application[UUID]):
    """Typed loading with domain errors, and scoping by company: another company's → NotFound."""

    name = "ContactCenter"
    snapshotting_intervals = {CompanyQuota: 100, Company: 50, Agent: 100, MailboxCheckpoint: 100}

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        super().__init__(env)
        self.saved_listeners: list[Callable[[int], None]] = []
        self._quota_locks: dict[UUID, RLock] = {}
        self._quota_locks_guard = Lock()

    def quota_lock(self, company_id: UUID) -> RLock:
        with self._quota_locks_guard:
            return self._quota_locks.setdefault(company_id, RLock())

    def construct_repository(self) -> Repository[UUID]:
        """The cache is trusted unless AGGREGATE_CACHE_FASTFORWARD=y asks for the library's
        query per load: only this application checks what its commands relied on."""
        maxsize = self.env.get(self.AGGREGATE_CACHE_MAXSIZE)
        return TrustingRepository(
            event_store=self.events,
            snapshot_store=self.snapshots,
            cache_maxsize=int(maxsize) if maxsize else None,
            fastforward=strtobool(self.env.get(self.AGGREGATE_CACHE_FASTFORWARD, "n")),
            deepcopy_from_cache=strtobool(self.env.get(self.DEEPCOPY_FROM_AGGREGATE_CACHE, "y")),
        )

    def save(self, *objs: Any, **kwargs: Any) -> list[Recording[UUID]]:
        """Within a command, first checks the cached aggregates it only read (see
        `TrustingRepository`); on a conflict, evicts those it changed."""
        attempt = current_attempt()
        if attempt is None or attempt.saved or not isinstance(self.repository, TrustingRepository):
            return super().save(*objs, **kwargs)  # outside a command, or loads were up to date
        changed = {
            o.id: o.version - len(o.pending_events)
            for o in objs
            if isinstance(o, Aggregate) and o.pending_events
        }
        unchecked = {i: seen for i, seen in attempt.reads.items() if changed.get(i) != seen}
        if stale := self.repository.evict_stale(unchecked):
            raise StaleAggregate(f"newer events stored for {len(stale)} cached aggregates")
        try:
            return super().save(*objs, **kwargs)
        except IntegrityError:
            self.repository.evict(changed)
            raise

    def _record(self, processing_event: ProcessingEvent[UUID]) -> list[Recording[UUID]]:
        if not isinstance(self.repository, TrustingRepository) or self.repository.fastforward:
            return super()._record(processing_event)
        recordings = self.events.put(
            processing_event.events,
            tracking=processing_event.tracking,
            **processing_event.saved_kwargs,
        )
        if attempt := current_attempt():
            attempt.saved = True  # recorded: whatever fails after, the command is not run again
        changed = {event.originator_id for event in processing_event.events}
        self.repository.remember(a for i, a in processing_event.aggregates.items() if i in changed)
        return recordings

    def _notify(self, recordings: list[Recording[UUID]]) -> None:
        """Tells in-process readers (projection runners) that the log grew."""
        super()._notify(recordings)
        if recordings:
            for listener in self.saved_listeners:
                listener(recordings[-1].notification.id)

    def _load(
        self, cls: type[A], error: type[NotFound], aggregate_id: UUID, scope: UUID | None
    ) -> A:
        try:
            aggregate: Aggregate = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            raise error(f"no {cls.__name__.lower()} {aggregate_id}") from None
        if not isinstance(aggregate, cls) or (scope and _company_of(aggregate) != scope):
            raise error(f"no {cls.__name__.lower()} {aggregate_id}")
        return aggregate

    def company(self, company_id: UUID, scope: UUID | None = None) -> Company:
        return self._load(Company, CompanyNotFound, company_id, scope)

    def queue(self, queue_id: UUID, scope: UUID | None = None) -> Queue:
        return self._load(Queue, QueueNotFound, queue_id, scope)

    def agent(self, agent_id: UUID, scope: UUID | None = None) -> Agent:
        return self._load(Agent, AgentNotFound, agent_id, scope)

    def interaction(self, interaction_id: UUID, scope: UUID | None = None) -> Interaction:
        return self._load(Interaction, InteractionNotFound, interaction_id, scope)

    def message_record(self, record_id: UUID, scope: UUID | None = None) -> MessageRecord:
        return self._load(MessageRecord, MessageNotFound, record_id, scope)

    def quarantined(self, record_id: UUID, scope: UUID | None = None) -> QuarantinedMessage:
        return self._load(QuarantinedMessage, MessageNotFound, record_id, scope)

    def quota(self, company_id: UUID) -> CompanyQuota:
        return self._load(CompanyQuota, CompanyNotFound, CompanyQuota.create_id(company_id), None)

    def token(self, token_id: UUID) -> AccessToken | None:
        try:
            token: Aggregate = self.repository.get(token_id)
        except AggregateNotFoundError:
            return None
        return token if isinstance(token, AccessToken) else None

    def last_inbound_record(self, interaction: Interaction) -> MessageRecord:
        for rfc_message_id in reversed(interaction.message_ids):
            record = self.message_record(message_record_id(interaction.company_id, rfc_message_id))
            if record.direction == "in":
                return record
        raise MessageNotFound(f"interaction {interaction.id} has no inbound email")

    def batch(self) -> Batch:
        return Batch(self)


class Batch:
    """The aggregates one command loads and changes, saved together in one transaction."""

    def __init__(self, app: Repositories, absent: frozenset[UUID] = frozenset()) -> None:
        self.app = app
        self.loaded: dict[UUID, Aggregate] = {}
        self.absent = absent  # a hint: saving one of these anyway conflicts, see `ingest`

    def _cached(self, aggregate_id: UUID, load: Callable[[], A]) -> A:
        if aggregate_id not in self.loaded:
            self.loaded[aggregate_id] = load()
        return self.loaded[aggregate_id]  # type: ignore[return-value]

    def add(self, *aggregates: Aggregate) -> None:
        for aggregate in aggregates:
            self.loaded[aggregate.id] = aggregate

    def company(self, company_id: UUID, scope: UUID | None = None) -> Company:
        return self._cached(company_id, lambda: self.app.company(company_id, scope))

    def agent(self, agent_id: UUID, scope: UUID | None = None) -> Agent:
        return self._cached(agent_id, lambda: self.app.agent(agent_id, scope))

    def queue(self, queue_id: UUID, scope: UUID | None = None) -> Queue:
        return self._cached(queue_id, lambda: self.app.queue(queue_id, scope))

    def interaction(self, interaction_id: UUID, scope: UUID | None = None) -> Interaction:
        return self._cached(interaction_id, lambda: self.app.interaction(interaction_id, scope))

    def quota(self, company_id: UUID) -> CompanyQuota:
        """The company's quota, under an in-process lock held until the command returns.

        Every open and close of a company writes this one aggregate; serialising them in the
        process avoids a storm of version conflicts. Other processes still meet the
        optimistic check, and `retried_on_conflict` settles those.
        """
        attempt = current_attempt()
        if attempt is not None:
            lock = self.app.quota_lock(company_id)
            lock.acquire()
            attempt.locks.append(lock)
        return self._cached(CompanyQuota.create_id(company_id), lambda: self.app.quota(company_id))

    def message_record(self, record_id: UUID, scope: UUID | None = None) -> MessageRecord:
        """Also finds a record added to this batch and not saved yet; one named in `absent`
        (the store did not hold it a moment ago) is not looked up."""
        if record_id in self.absent and record_id not in self.loaded:
            raise MessageNotFound(f"no message record {record_id}")
        return self._cached(record_id, lambda: self.app.message_record(record_id, scope))

    def commit(self) -> int:
        recordings = self.app.save(*self.loaded.values())
        if recordings:
            return recordings[-1].notification.id
        return self.app.recorder.max_notification_id() or 0

    def saved(self, aggregate: Aggregate) -> Saved:
        self.add(aggregate)
        return Saved(aggregate, self.commit())

    def track(
        self, interaction: Interaction, *agent_ids: UUID | None, actor: Actor, at: datetime
    ) -> None:
        """Brings each involved agent's workload in line with the interaction's new state."""
        for agent_id in dict.fromkeys(a for a in agent_ids if a is not None):
            agent = self.agent(agent_id)
            owned = interaction.owner == agent_id and interaction.status in OWNED
            active = owned and interaction.status == Status.ACTIVE
            agent.track(interaction.id, owned=owned, active=active, actor=str(actor), at=at)

    def park_active_of(self, agent_id: UUID, keep: UUID, *, at: datetime) -> None:
        """One email at a time: the agent's other active email is parked by the system."""
        agent = self.agent(agent_id)
        if agent.active is None or agent.active == keep:
            return
        other = self.interaction(agent.active)
        if other.status == Status.ACTIVE and other.owner == agent_id:
            other.park(SYSTEM, at=at)
        self.track(other, agent_id, actor=SYSTEM, at=at)


def _company_of(aggregate: Aggregate) -> UUID:
    company_id = getattr(aggregate, "company_id", None)
    return company_id if isinstance(company_id, UUID) else aggregate.id
