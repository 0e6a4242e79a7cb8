"""Agent: any user of a company (agent, supervisor or admin), with presence and workload."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.actors import ROLES, Role
from domain.errors import AgentUnavailable, InvalidInput, RuleViolated


def _check_capacity(capacity: int) -> int:
    if not 1 <= capacity <= 100:
        raise InvalidInput(f"capacity is 1-100 concurrent emails, not {capacity}")
    return capacity


def check_role(role: str) -> Role:
    for known in ROLES:
        if role == known:
            return known
    raise InvalidInput(f"role must be one of {', '.join(ROLES)}, not {role!r}")


class Agent(Aggregate):
    """A person who works email; holds interactions, works one of them at a time."""

    offer: UUID | None = None  # the last interaction offered to the agent (a class default:
    # snapshots taken before offers were recorded on the agent lack the attribute)

    class Registered(Aggregate.Created):
        company_id: UUID
        name: str
        email: str
        role: str
        queue_ids: list[UUID]
        capacity: int
        actor: str

    class RoleSet(Aggregate.Event):
        role: str
        actor: str

    class JoinedQueue(Aggregate.Event):
        queue_id: UUID
        actor: str

    class LeftQueue(Aggregate.Event):
        queue_id: UUID
        actor: str

    class AccessProfileSet(Aggregate.Event):
        visible_queue_ids: list[UUID] | None
        actor: str

    class CapacitySet(Aggregate.Event):
        capacity: int
        actor: str

    class LoggedIn(Aggregate.Event):
        actor: str

    class LoggedOut(Aggregate.Event):
        actor: str

    class Paused(Aggregate.Event):
        reason: str
        actor: str

    class Unpaused(Aggregate.Event):
        actor: str

    class CallStarted(Aggregate.Event):
        parked_interaction_id: UUID | None
        actor: str

    class CallEnded(Aggregate.Event):
        resumed_interaction_id: UUID | None
        actor: str

    class WorkloadChanged(Aggregate.Event):
        held: list[UUID]
        active: UUID | None
        interaction_id: UUID
        actor: str

    class OfferReceived(Aggregate.Event):
        interaction_id: UUID
        actor: str

    @event(Registered)
    def __init__(
        self,
        *,
        id: UUID,
        company_id: UUID,
        name: str,
        email: str,
        role: str,
        queue_ids: list[UUID],
        capacity: int,
        actor: str,
        timestamp: datetime,
    ) -> None:
        self.company_id, self.name, self.email, self.role = company_id, name, email, role
        self.queue_ids, self.capacity = list(queue_ids), capacity
        self.visible_queue_ids: list[UUID] | None = None
        self.logged_in = False
        self.paused_reason: str | None = None
        self.on_call = False
        self.parked_for_call: UUID | None = None
        self.held: list[UUID] = []
        self.active: UUID | None = None

    @classmethod
    def register(
        cls,
        agent_id: UUID,
        company_id: UUID,
        *,
        name: str,
        email: str,
        role: str,
        queue_ids: list[UUID],
        capacity: int,
        actor: str,
        at: datetime,
    ) -> Agent:
        if not 1 <= len(name.strip()) <= 200:
            raise InvalidInput("user names are 1-200 characters")
        return cls(
            id=agent_id,
            company_id=company_id,
            name=name.strip(),
            email=email,
            role=check_role(role),
            queue_ids=list(dict.fromkeys(queue_ids)),
            capacity=_check_capacity(capacity),
            actor=actor,
            timestamp=at,
        )

    @property
    def is_available(self) -> bool:
        """Eligible for new work: logged in, not paused, not on a call."""
        return self.logged_in and self.paused_reason is None and not self.on_call

    def set_role(self, role: str, *, actor: str, at: datetime) -> None:
        self._role_set(role=check_role(role), actor=actor, timestamp=at)

    @event(RoleSet)
    def _role_set(self, role: str, actor: str, timestamp: datetime) -> None:
        self.role = role

    def join_queue(self, queue_id: UUID, *, actor: str, at: datetime) -> None:
        if queue_id in self.queue_ids:
            raise RuleViolated(f"agent {self.id} is already a member of queue {queue_id}")
        self._joined_queue(queue_id=queue_id, actor=actor, timestamp=at)

    @event(JoinedQueue)
    def _joined_queue(self, queue_id: UUID, actor: str, timestamp: datetime) -> None:
        self.queue_ids.append(queue_id)

    def leave_queue(self, queue_id: UUID, *, actor: str, at: datetime) -> None:
        if queue_id not in self.queue_ids:
            raise RuleViolated(f"agent {self.id} is not a member of queue {queue_id}")
        self._left_queue(queue_id=queue_id, actor=actor, timestamp=at)

    @event(LeftQueue)
    def _left_queue(self, queue_id: UUID, actor: str, timestamp: datetime) -> None:
        self.queue_ids.remove(queue_id)

    def set_access_profile(
        self, visible_queue_ids: list[UUID] | None, *, actor: str, at: datetime
    ) -> None:
        visible = None if visible_queue_ids is None else list(dict.fromkeys(visible_queue_ids))
        self._access_profile_set(visible_queue_ids=visible, actor=actor, timestamp=at)

    @event(AccessProfileSet)
    def _access_profile_set(
        self, visible_queue_ids: list[UUID] | None, actor: str, timestamp: datetime
    ) -> None:
        self.visible_queue_ids = visible_queue_ids

    def can_see_queue(self, queue_id: UUID | None) -> bool:
        if self.role == "admin" or self.visible_queue_ids is None:
            return True
        return queue_id in self.visible_queue_ids or queue_id in self.queue_ids

    def set_capacity(self, capacity: int, *, actor: str, at: datetime) -> None:
        self._capacity_set(capacity=_check_capacity(capacity), actor=actor, timestamp=at)

    @event(CapacitySet)
    def _capacity_set(self, capacity: int, actor: str, timestamp: datetime) -> None:
        self.capacity = capacity

    def log_in(self, *, actor: str, at: datetime) -> None:
        if self.logged_in:
            raise RuleViolated(f"agent {self.id} is already logged in")
        self._logged_in(actor=actor, timestamp=at)

    @event(LoggedIn)
    def _logged_in(self, actor: str, timestamp: datetime) -> None:
        self.logged_in = True

    def log_out(self, *, actor: str, at: datetime) -> None:
        if not self.logged_in:
            raise RuleViolated(f"agent {self.id} is not logged in")
        self._logged_out(actor=actor, timestamp=at)

    @event(LoggedOut)
    def _logged_out(self, actor: str, timestamp: datetime) -> None:
        self.logged_in, self.paused_reason = False, None

    def pause(self, reason: str, *, actor: str, at: datetime) -> None:
        if not self.logged_in:
            raise AgentUnavailable(f"agent {self.id} is not logged in")
        if self.paused_reason is not None:
            raise RuleViolated(f"agent {self.id} is already paused")
        if not 1 <= len(reason.strip()) <= 100:
            raise InvalidInput("a pause reason is 1-100 characters")
        self._paused(reason=reason.strip(), actor=actor, timestamp=at)

    @event(Paused)
    def _paused(self, reason: str, actor: str, timestamp: datetime) -> None:
        self.paused_reason = reason

    def unpause(self, *, actor: str, at: datetime) -> None:
        if self.paused_reason is None:
            raise RuleViolated(f"agent {self.id} is not paused")
        self._unpaused(actor=actor, timestamp=at)

    @event(Unpaused)
    def _unpaused(self, actor: str, timestamp: datetime) -> None:
        self.paused_reason = None

    def start_call(self, *, actor: str, at: datetime) -> UUID | None:
        """Marks the agent on a call; returns the active email, which the caller parks."""
        if self.on_call:
            raise RuleViolated(f"agent {self.id} is already on a call")
        self._call_started(parked_interaction_id=self.active, actor=actor, timestamp=at)
        return self.parked_for_call

    @event(CallStarted)
    def _call_started(
        self, parked_interaction_id: UUID | None, actor: str, timestamp: datetime
    ) -> None:
        self.on_call, self.parked_for_call = True, parked_interaction_id

    def end_call(self, *, actor: str, at: datetime) -> UUID | None:
        """Ends the call; returns the email parked by it if the agent still holds it parked."""
        if not self.on_call:
            raise RuleViolated(f"agent {self.id} is not on a call")
        resume = self.parked_for_call
        if resume not in self.held or self.active is not None:
            resume = None
        self._call_ended(resumed_interaction_id=resume, actor=actor, timestamp=at)
        return resume

    @event(CallEnded)
    def _call_ended(
        self, resumed_interaction_id: UUID | None, actor: str, timestamp: datetime
    ) -> None:
        self.on_call, self.parked_for_call = False, None

    def track(
        self, interaction_id: UUID, *, owned: bool, active: bool, actor: str, at: datetime
    ) -> None:
        """Brings the workload in line with what the agent now holds of one interaction."""
        held = [i for i in self.held if i != interaction_id] + ([interaction_id] if owned else [])
        now_active = self.active
        if active:
            now_active = interaction_id
        elif now_active == interaction_id:
            now_active = None
        if sorted(held) != sorted(self.held) or now_active != self.active:
            self._workload_changed(
                held=held,
                active=now_active,
                interaction_id=interaction_id,
                actor=actor,
                timestamp=at,
            )

    @event(WorkloadChanged)
    def _workload_changed(
        self,
        held: list[UUID],
        active: UUID | None,
        interaction_id: UUID,
        actor: str,
        timestamp: datetime,
    ) -> None:
        self.held, self.active = held, active

    def receive_offer(self, interaction_id: UUID, *, at: datetime) -> None:
        """Recorded with the interaction's `offered`, so that capacity is checked atomically."""
        if not self.is_available:
            raise AgentUnavailable(f"agent {self.id} is not available for offers")
        self._offer_received(interaction_id=interaction_id, actor="system", timestamp=at)

    @event(OfferReceived)
    def _offer_received(self, interaction_id: UUID, actor: str, timestamp: datetime) -> None:
        self.offer = interaction_id
