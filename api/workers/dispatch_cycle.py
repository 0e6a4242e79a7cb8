"""One dispatch cycle: the timers that act alone, then offers of waiting email to free agents.

Everything is decided from the dispatch board at one log position and checked again by each
command, so a lagging board or a second worker costs a refused command, never a wrong event.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from adapters.presence import Presence
from api.metrics import METRICS
from domain.application import ContactCenter
from domain.distribution import AgentState, choose, round_is_over, unavailability
from domain.errors import DomainError
from projections.dispatch import BoardAgent, DispatchBoard, WaitingItem
from projections.dispatch_people import ms

logger = logging.getLogger(__name__)


@dataclass
class Cycle:
    """What one cycle did: the offers it made and the other commands that succeeded."""

    offers: list[tuple[UUID, UUID]] = field(default_factory=list)  # (interaction, agent)
    actions: list[tuple[str, UUID]] = field(default_factory=list)
    refused: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.offers or self.actions)


def attempt(cycle: Cycle, name: str, command: Callable[..., Any], target: UUID, **kw: Any) -> bool:
    """Runs one command; a refusal means the board was behind or another worker was first."""
    try:
        command(target, **kw)
    except (DomainError, IntegrityError) as error:
        logger.debug("dispatch: %s %s refused: %s", name, target, error)
        cycle.refused += 1
        return False
    cycle.actions.append((name, target))
    return True


def with_presence(
    agents: list[BoardAgent], presence: Presence, now: datetime
) -> dict[UUID, BoardAgent]:
    """Logging in counts as a beat: an agent is present within the TTL after logging in."""
    beating = presence.present([a.agent_id for a in agents])
    grace = round(presence.ttl * 1000)
    return {
        a.agent_id: replace(
            a, state=replace(a.state, present=a.agent_id in beating or ms(now) - a.login_ms < grace)
        )
        for a in agents
    }


def run_timers(
    app: ContactCenter, board: DispatchBoard, presence: Presence, now: datetime, cycle: Cycle
) -> None:
    """What happens when nobody acts: lapsed presence, expired offers, offer rounds everyone
    rejected, the disposition timeout, unanswered outbound email, parking too long."""
    agents = with_presence(board.logged_in_agents(), presence, now)
    for agent in agents.values():
        if not agent.state.present:
            attempt(cycle, "log out absent", app.log_out_absent, agent.agent_id, at=now)
    for interaction_id, version in board.expired_offers(now):
        if attempt(
            cycle, "expire offer", app.expire_offer, interaction_id, offered_version=version, at=now
        ):
            METRICS.inc("inboxflow_dispatch_expiries_total")
    members: dict[UUID, list[UUID]] = defaultdict(list)
    for agent in agents.values():
        for queue_id in agent.state.queue_ids if agent.state.present else ():
            members[queue_id].append(agent.agent_id)
    for item in board.rejected_waiting():
        if round_is_over(item.rejected_by, members[item.queue_id]):
            attempt(cycle, "end offer round", app.end_offer_round, item.interaction_id, at=now)
    for interaction_id in board.due("reply_ms", now):
        attempt(cycle, "default disposition", app.apply_default_disposition, interaction_id, at=now)
    for interaction_id in board.due("awaiting_ms", now):
        attempt(cycle, "close unanswered", app.close_unanswered, interaction_id, at=now)
    for interaction_id in board.due("parked_ms", now):
        attempt(cycle, "return parked", app.return_parked, interaction_id, at=now)


@dataclass(frozen=True)
class Plan:
    """One offer to make: this email to this agent, for this reason."""

    interaction_id: UUID
    agent_id: UUID
    reason: dict[str, Any]


def offer_waiting(
    app: ContactCenter,
    board: DispatchBoard,
    presence: Presence,
    now: datetime,
    cycle: Cycle,
    *,
    seen_position: int,
    dispatcher: str,
    max_offers: int,
    executor: Executor | None = None,
) -> None:
    """Offers waiting email, by queue priority then age, while free agents remain.

    At most `max_offers`: the next cycle then looks at the log again, so that an urgent email
    arriving during a long drain of the backlog waits for a few offers, not for all of them.
    The offers of one cycle concern different emails and agents: with an `executor` they are
    made concurrently (each is checked again by its command all the same).
    """
    plans = plan_offers(board, presence, now, max_offers)
    note = {"seen_position": seen_position, "dispatcher": dispatcher}

    def offer(plan: Plan) -> bool:
        try:
            app.offer(
                plan.interaction_id, plan.agent_id, {**plan.reason, **note}, present=True, at=now
            )
        except (DomainError, IntegrityError) as error:  # the board was behind, or another worker
            logger.debug("dispatch: offer of %s refused: %s", plan.interaction_id, error)
            return False
        return True

    done = list(executor.map(offer, plans) if executor is not None else map(offer, plans))
    for plan, made in zip(plans, done, strict=True):
        if made:
            cycle.offers.append((plan.interaction_id, plan.agent_id))
            METRICS.inc("inboxflow_dispatch_offers_total")
            cycle.actions.append(("offer", plan.interaction_id))
        else:
            cycle.refused += 1


def plan_offers(
    board: DispatchBoard, presence: Presence, now: datetime, max_offers: int
) -> list[Plan]:
    """The next offers to make, decided from the board; each agent at most once."""
    agents = with_presence(board.logged_in_agents(), presence, now)
    settings = board.settings({a.company_id for a in agents.values()})
    states = {aid: a.state for aid, a in agents.items()}
    companies = {aid: a.company_id for aid, a in agents.items()}

    def is_free(agent_id: UUID) -> bool:
        return unavailability(states[agent_id], settings[companies[agent_id]]) is None

    items = _waiting_for(board, [aid for aid in states if is_free(aid)], states)
    handlers = {
        company_id: board.last_handlers(
            company_id, {i.customer for i in items if i.company_id == company_id}
        )
        for company_id in {i.company_id for i in items}
    }
    plans: list[Plan] = []
    for item in items:
        if len(plans) >= max_offers:
            break
        pool = [states[aid] for aid, company in companies.items() if company == item.company_id]
        if not any(is_free(a.agent_id) for a in pool):
            continue
        decision = choose(
            item.queue_id,
            pool,
            settings[item.company_id],
            rejected_by=item.rejected_by,
            last_handler=handlers[item.company_id].get(item.customer),
            now=now,
        )
        if decision.agent_id is not None:
            plans.append(Plan(item.interaction_id, decision.agent_id, decision.reason))
            states[decision.agent_id] = states[decision.agent_id].with_offer(now)
    return plans


def _waiting_for(
    board: DispatchBoard, free: list[UUID], states: dict[UUID, AgentState]
) -> list[WaitingItem]:
    """The first waiting emails of every queue a free agent serves, in the order of work."""
    by_queue: dict[UUID, list[UUID]] = defaultdict(list)
    for agent_id in free:
        for queue_id in states[agent_id].queue_ids:
            by_queue[queue_id].append(agent_id)
    items = [
        item
        for queue_id, members in sorted(by_queue.items(), key=lambda kv: str(kv[0]))
        for item in board.waiting(queue_id, members, limit=2 * len(members) + 10)
    ]
    return sorted(items, key=lambda i: (-i.priority, i.arrived_ms, str(i.interaction_id)))
