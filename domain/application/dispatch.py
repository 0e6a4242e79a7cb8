"""Distribution: offers to one agent at a time, their expiry, and the timers that act alone.

The dispatch worker decides from a projection; each command here checks the decision again
on the aggregates it loads, so a lagging view can cost a wasted attempt, never a wrong event.
An offer saves the agent with the interaction (`Agent.OfferReceived`), so two workers offering
to the same agent, or the same interaction, conflict on a version and one of them retries.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from domain.actors import SYSTEM, Actor
from domain.agent import Agent
from domain.application.base import Batch, Repositories, Saved, retried_on_conflict
from domain.distribution import AgentState, DistributionSettings, exclusion
from domain.errors import AgentUnavailable, RuleViolated
from domain.interaction import Interaction
from domain.messages import Status
from domain.timers import (
    INACTIVITY_DISPOSITION,
    awaiting_answer_since,
    disposition_pending_since,
    last_offer,
    parked_since,
)

Since = Callable[[list[Any]], datetime | None]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
STRICT = DistributionSettings(parked_count_toward_capacity=True)


class TimerNotDue(RuleViolated):
    """The deadline a worker saw has not passed, or no longer runs."""

    code = "timer-not-due"


class Dispatch(Repositories):
    """Commands of the dispatch worker, and the company's distribution settings."""

    @retried_on_conflict
    def set_distribution(
        self, company_id: UUID, settings: DistributionSettings, *, by: Actor, at: datetime
    ) -> Saved:
        company = self.company(company_id)
        company.set_distribution(settings, actor=str(by), at=at)
        return self.batch().saved(company)

    @retried_on_conflict
    def offer(
        self,
        interaction_id: UUID,
        agent_id: UUID,
        reason: dict[str, Any],
        *,
        present: bool,
        at: datetime,
    ) -> Saved:
        """Offers a waiting interaction to one agent; refused unless the agent is eligible."""
        batch = self.batch()
        interaction = batch.interaction(interaction_id)
        agent = batch.agent(agent_id, interaction.company_id)
        state = agent_state(agent, present=present, offer_pending=_offer_pending(batch, agent))
        settings = STRICT  # parked email counting: if that fits, any company setting fits
        if state.load(STRICT) + 1 > state.capacity:
            settings = batch.company(interaction.company_id).distribution
        if interaction.queue_id is None:
            raise RuleViolated(f"interaction {interaction_id} waits in no queue")
        why = exclusion(state, interaction.queue_id, settings, interaction.rejected_by)
        if why is not None:
            raise AgentUnavailable(f"agent {agent_id} may not be offered {interaction_id}: {why}")
        interaction.offer(agent_id, reason, at=at)
        agent.receive_offer(interaction_id, at=at)
        batch.add(agent)
        return batch.saved(interaction)

    @retried_on_conflict
    def expire_offer(self, interaction_id: UUID, offered_version: int, *, at: datetime) -> Saved:
        """The offer made at `offered_version` was not answered within the offer timeout."""
        batch = self.batch()
        interaction = batch.interaction(interaction_id)
        timeout = batch.company(interaction.company_id).distribution.offer_timeout_seconds
        standing = last_offer(self._events_of(interaction))
        if interaction.status != Status.OFFERED or standing is None:
            raise TimerNotDue(f"interaction {interaction_id} has no standing offer")
        offered_at, version = standing
        if version != offered_version or at < offered_at + timedelta(seconds=timeout):
            raise TimerNotDue(f"the offer of interaction {interaction_id} has not expired")
        interaction.expire_offer(at=at)
        return batch.saved(interaction)

    @retried_on_conflict
    def log_out_absent(self, agent_id: UUID, *, at: datetime) -> Saved:
        """The agent's presence lapsed: logged out by the system, their offer withdrawn.

        What they own stays theirs.
        """
        batch = self.batch()
        agent = batch.agent(agent_id)
        if agent.offer is not None and _offer_pending(batch, agent):
            batch.interaction(agent.offer).expire_offer(at=at)
        agent.log_out(actor=str(SYSTEM), at=at)
        return batch.saved(agent)

    @retried_on_conflict
    def end_offer_round(self, interaction_id: UUID, *, at: datetime) -> Saved:
        """Every logged-in member rejected it: returned to the queue, and a new round begins."""
        interaction = self.interaction(interaction_id)
        interaction.end_offer_round(at=at)
        return self.batch().saved(interaction)

    @retried_on_conflict
    def apply_default_disposition(self, interaction_id: UUID, *, at: datetime) -> Saved:
        """The agent did not dispose in time: closed by the system with the default."""
        batch = self.batch()
        interaction = batch.interaction(interaction_id)
        company = batch.company(interaction.company_id)
        timeout, default = company.disposition_timeout_seconds, company.default_disposition
        if timeout is None or default is None:
            raise TimerNotDue(f"company {company.id} has no disposition timeout")
        self._require_due(interaction, disposition_pending_since, timeout, at)
        return self._close_by_system(batch, interaction, default, at)

    @retried_on_conflict
    def close_unanswered(self, interaction_id: UUID, *, at: datetime) -> Saved:
        """Outbound email the customer never answered, after the inactivity period."""
        batch = self.batch()
        interaction = batch.interaction(interaction_id)
        period = batch.company(interaction.company_id).distribution.inactivity_seconds
        self._require_due(interaction, awaiting_answer_since, period, at)
        return self._close_by_system(batch, interaction, [INACTIVITY_DISPOSITION], at)

    @retried_on_conflict
    def return_parked(self, interaction_id: UUID, *, at: datetime) -> Saved:
        """Parked longer than the company allows: back to its queue for someone else."""
        batch = self.batch()
        interaction = batch.interaction(interaction_id)
        limit = batch.company(interaction.company_id).distribution.max_parking_seconds
        if limit is None or interaction.status != Status.PARKED or interaction.owner is None:
            raise TimerNotDue(f"interaction {interaction_id} may stay parked")
        self._require_due(interaction, parked_since, limit, at)
        owner = batch.agent(interaction.owner)
        if owner.on_call and owner.parked_for_call == interaction.id:
            raise TimerNotDue(f"interaction {interaction_id} waits for a call to end")
        interaction.return_to_queue(SYSTEM, at=at)
        batch.track(interaction, owner.id, actor=SYSTEM, at=at)
        return batch.saved(interaction)

    def _events_of(self, interaction: Interaction) -> list[Any]:
        """The events behind the loaded state: anything newer makes the save conflict."""
        return list(self.events.get(interaction.id, lte=interaction.version))

    def _require_due(
        self, interaction: Interaction, since: Since, seconds: int, at: datetime
    ) -> None:
        started = since(self._events_of(interaction)) if interaction.is_open else None
        if started is None or at < started + timedelta(seconds=seconds):
            raise TimerNotDue(f"no deadline of interaction {interaction.id} has passed")

    def _close_by_system(
        self, batch: Batch, interaction: Interaction, path: list[str], at: datetime
    ) -> Saved:
        owner = interaction.owner
        interaction.close(path, SYSTEM, required=False, at=at)
        batch.quota(interaction.company_id).release(interaction.id, at=at)
        batch.track(interaction, owner, actor=SYSTEM, at=at)
        return batch.saved(interaction)


def _offer_pending(batch: Batch, agent: Agent) -> bool:
    """Whether the agent's last offer still stands (accepting or rejecting it is not recorded
    on the agent, so the interaction says)."""
    if agent.offer is None:
        return False
    offered = batch.interaction(agent.offer)
    return offered.status == Status.OFFERED and offered.offered_to == agent.id


def agent_state(
    agent: Agent, *, present: bool, offer_pending: bool, idle_since: datetime = EPOCH
) -> AgentState:
    """The agent aggregate as distribution sees it."""
    return AgentState(
        agent_id=agent.id,
        queue_ids=frozenset(agent.queue_ids),
        capacity=agent.capacity,
        idle_since=idle_since,
        logged_in=agent.logged_in,
        present=present,
        paused=agent.paused_reason is not None,
        on_call=agent.on_call,
        held=len(agent.held),
        parked=len(agent.held) - (1 if agent.active is not None else 0),
        offer_pending=offer_pending,
    )
