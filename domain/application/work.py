"""Agents' work: presence, and every command on an interaction after it arrived."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

from domain.actors import SYSTEM, Actor
from domain.agent import Agent
from domain.application.base import Batch, Repositories, Saved, retried_on_conflict
from domain.errors import NotQueueMember, QueueClosed, QueueHiddenFromAgent
from domain.interaction import Interaction
from domain.messages import MessageInfo
from domain.records import MessageRecord


class Work(Repositories):
    """Commands of agents and supervisors on interactions and on their own presence."""

    @retried_on_conflict
    def _change_agent(
        self, agent_id: UUID, change: Callable[[Agent], None], *, scope: UUID
    ) -> Saved:
        agent = self.agent(agent_id, scope)
        change(agent)
        return self.batch().saved(agent)

    def log_in(self, agent_id: UUID, *, scope: UUID, by: Actor, at: datetime) -> Saved:
        return self._change_agent(agent_id, lambda a: a.log_in(actor=str(by), at=at), scope=scope)

    def log_out(self, agent_id: UUID, *, scope: UUID, by: Actor, at: datetime) -> Saved:
        return self._change_agent(agent_id, lambda a: a.log_out(actor=str(by), at=at), scope=scope)

    def pause(self, agent_id: UUID, reason: str, *, scope: UUID, by: Actor, at: datetime) -> Saved:
        return self._change_agent(
            agent_id, lambda a: a.pause(reason, actor=str(by), at=at), scope=scope
        )

    def unpause(self, agent_id: UUID, *, scope: UUID, by: Actor, at: datetime) -> Saved:
        return self._change_agent(agent_id, lambda a: a.unpause(actor=str(by), at=at), scope=scope)

    @retried_on_conflict
    def start_call(self, agent_id: UUID, *, scope: UUID, by: Actor, at: datetime) -> Saved:
        """Voice outranks email: the active email is parked by the system."""
        batch = self.batch()
        agent = batch.agent(agent_id, scope)
        parked = agent.start_call(actor=str(by), at=at)
        if parked is not None:
            interaction = batch.interaction(parked)
            interaction.park(SYSTEM, at=at)
            batch.track(interaction, agent_id, actor=SYSTEM, at=at)
        return batch.saved(agent)

    @retried_on_conflict
    def end_call(self, agent_id: UUID, *, scope: UUID, by: Actor, at: datetime) -> Saved:
        batch = self.batch()
        agent = batch.agent(agent_id, scope)
        resumed = agent.end_call(actor=str(by), at=at)
        if resumed is not None:
            interaction = batch.interaction(resumed)
            interaction.resume(SYSTEM, at=at)
            batch.track(interaction, agent_id, actor=SYSTEM, at=at)
        return batch.saved(agent)

    def _check_may_take(self, batch: Batch, interaction: Interaction, by: Actor) -> None:
        if by.user_id is None or interaction.offered_to == by.user_id:
            return
        agent = batch.agent(by.user_id)
        if by.is_agent and interaction.queue_id not in agent.queue_ids:
            raise NotQueueMember(
                f"agent {by.user_id} is not a member of the queue of interaction {interaction.id}"
            )

    @retried_on_conflict
    def accept(self, interaction_id: UUID, *, scope: UUID, by: Actor, at: datetime) -> Saved:
        batch = self.batch()
        interaction = batch.interaction(interaction_id, scope)
        self._check_may_take(batch, interaction, by)
        interaction.accept(by, at=at)
        return self._now_active(batch, interaction, by, at)

    def _now_active(self, batch: Batch, interaction: Interaction, by: Actor, at: datetime) -> Saved:
        assert interaction.owner is not None
        batch.park_active_of(interaction.owner, keep=interaction.id, at=at)
        batch.track(interaction, interaction.owner, actor=by, at=at)
        return batch.saved(interaction)

    @retried_on_conflict
    def reject(self, interaction_id: UUID, *, scope: UUID, by: Actor, at: datetime) -> Saved:
        interaction = self.interaction(interaction_id, scope)
        interaction.reject_offer(by, at=at)
        return self.batch().saved(interaction)

    @retried_on_conflict
    def park(self, interaction_id: UUID, *, scope: UUID, by: Actor, at: datetime) -> Saved:
        batch = self.batch()
        interaction = batch.interaction(interaction_id, scope)
        interaction.park(by, at=at)
        batch.track(interaction, interaction.owner, actor=by, at=at)
        return batch.saved(interaction)

    @retried_on_conflict
    def resume(self, interaction_id: UUID, *, scope: UUID, by: Actor, at: datetime) -> Saved:
        batch = self.batch()
        interaction = batch.interaction(interaction_id, scope)
        interaction.resume(by, at=at)
        return self._now_active(batch, interaction, by, at)

    @retried_on_conflict
    def queue_reply(
        self,
        interaction_id: UUID,
        message: MessageInfo,
        *,
        forward: bool,
        scope: UUID,
        by: Actor,
        at: datetime,
    ) -> Saved:
        """Records the outgoing email in the outbox; a sender delivers it later."""
        batch = self.batch()
        interaction = batch.interaction(interaction_id, scope)
        interaction.queue_reply(message, by, forward=forward, at=at)
        batch.add(
            MessageRecord(
                company_id=scope,
                rfc_message_id=message["rfc_message_id"],
                interaction_id=interaction.id,
                direction="out",
                blob=message["blob"],
                timestamp=at,
            )
        )
        return batch.saved(interaction)

    @retried_on_conflict
    def transfer_to_agent(
        self, interaction_id: UUID, agent_id: UUID, *, scope: UUID, by: Actor, at: datetime
    ) -> Saved:
        batch = self.batch()
        interaction = batch.interaction(interaction_id, scope)
        target = batch.agent(agent_id, scope)
        if not target.can_see_queue(interaction.queue_id):
            raise QueueHiddenFromAgent(
                f"agent {agent_id} cannot see the queue {interaction.queue_id} "
                f"of interaction {interaction_id}"
            )
        previous = interaction.owner
        interaction.transfer_to_agent(agent_id, by, at=at)
        batch.track(interaction, previous, agent_id, actor=by, at=at)
        return batch.saved(interaction)

    @retried_on_conflict
    def transfer_to_queue(
        self, interaction_id: UUID, queue_id: UUID, *, scope: UUID, by: Actor, at: datetime
    ) -> Saved:
        batch = self.batch()
        interaction = batch.interaction(interaction_id, scope)
        if batch.queue(queue_id, scope).is_closed:
            raise QueueClosed(f"queue {queue_id} is closed")
        previous = interaction.owner
        interaction.transfer_to_queue(queue_id, by, at=at)
        batch.track(interaction, previous, actor=by, at=at)
        return batch.saved(interaction)

    @retried_on_conflict
    def return_to_queue(
        self, interaction_id: UUID, *, scope: UUID, by: Actor, at: datetime
    ) -> Saved:
        batch = self.batch()
        interaction = batch.interaction(interaction_id, scope)
        previous = interaction.owner
        interaction.return_to_queue(by, at=at)
        batch.track(interaction, previous, actor=by, at=at)
        return batch.saved(interaction)

    @retried_on_conflict
    def add_note(
        self,
        interaction_id: UUID,
        note_id: UUID,
        text: str,
        *,
        scope: UUID,
        by: Actor,
        at: datetime,
        for_agent_id: UUID | None = None,
    ) -> Saved:
        interaction = self.interaction(interaction_id, scope)
        if for_agent_id is not None:
            self.agent(for_agent_id, scope)  # a user of this company, or AgentNotFound
        interaction.add_note(note_id, text, by, at=at, for_agent_id=for_agent_id)
        return self.batch().saved(interaction)

    @retried_on_conflict
    def save_draft(
        self, interaction_id: UUID, draft: dict[str, Any], *, scope: UUID, by: Actor, at: datetime
    ) -> Saved:
        interaction = self.interaction(interaction_id, scope)
        interaction.save_draft(draft, by, at=at)
        return self.batch().saved(interaction)

    @retried_on_conflict
    def discard_draft(self, interaction_id: UUID, *, scope: UUID, by: Actor, at: datetime) -> Saved:
        interaction = self.interaction(interaction_id, scope)
        interaction.discard_draft(by, at=at)
        return self.batch().saved(interaction)

    @retried_on_conflict
    def set_substatus(
        self, interaction_id: UUID, substatus: str | None, *, scope: UUID, by: Actor, at: datetime
    ) -> Saved:
        interaction = self.interaction(interaction_id, scope)
        if substatus is None:
            interaction.clear_substatus(by, at=at)
        else:
            checked = self.company(interaction.company_id).check_substatus(substatus)
            interaction.set_substatus(checked, by, at=at)
        return self.batch().saved(interaction)

    @retried_on_conflict
    def change_tags(
        self,
        interaction_id: UUID,
        *,
        add: list[str],
        remove: list[str],
        scope: UUID,
        by: Actor,
        at: datetime,
    ) -> Saved:
        interaction = self.interaction(interaction_id, scope)
        interaction.untag(remove, by, at=at)
        interaction.tag(add, by, at=at)
        return self.batch().saved(interaction)

    @retried_on_conflict
    def mark(
        self, interaction_id: UUID, *, unread: bool, scope: UUID, by: Actor, at: datetime
    ) -> Saved:
        interaction = self.interaction(interaction_id, scope)
        if unread:
            interaction.mark_unread(by, at=at)
        else:
            interaction.mark_read(by, at=at)
        return self.batch().saved(interaction)

    @retried_on_conflict
    def close_interaction(
        self, interaction_id: UUID, disposition: list[str], *, scope: UUID, by: Actor, at: datetime
    ) -> Saved:
        batch = self.batch()
        interaction = batch.interaction(interaction_id, scope)
        company = batch.company(interaction.company_id)
        path = company.check_disposition(disposition)
        owner = interaction.owner
        interaction.close(path, by, required=company.disposition_mandatory, at=at)
        batch.quota(interaction.company_id).release(interaction.id, at=at)
        batch.track(interaction, owner, actor=by, at=at)
        return batch.saved(interaction)

    @retried_on_conflict
    def reopen(self, interaction_id: UUID, *, scope: UUID, by: Actor, at: datetime) -> Saved:
        """Never refused by the open limit, but it counts."""
        batch = self.batch()
        interaction = batch.interaction(interaction_id, scope)
        interaction.reopen(by, at=at)
        batch.quota(interaction.company_id).reserve(interaction.id, limit=None, at=at)
        if interaction.owner is None:
            return batch.saved(interaction)
        return self._now_active(batch, interaction, by, at)
