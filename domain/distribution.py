"""Distribution policy (DESIGN §3): who may be offered an email, and who is, and why.

Pure: agents' states, the company's settings and the time come in as values; the decision and
its reason come out, and the reason goes into the `offered` event so that a supervisor can see
why an email went where it went. The ranking can be recomputed from the reason alone
(`replayed_choice`), which is how routing stays reproducible from the log.

"Idle since" is the later of the moment the agent last became available (logged in, unpaused,
call ended) and the moment they were last offered work: the longest idle agent is the one who
has waited longest for work.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from domain.errors import InvalidInput

DAY = 86_400
MAX_LISTED = 10  # candidates and exclusions listed in a reason; the counts are always complete

# Why an agent was not offered the email, in the order they are checked.
NOT_MEMBER, LOGGED_OUT, ABSENT = "not a member of the queue", "logged out", "presence lapsed"
PAUSED, ON_CALL, OFFER_PENDING = "paused", "on a call", "already has an offer pending"
REJECTED, FULL = "rejected it in this round", "at capacity"


@dataclass(frozen=True)
class DistributionSettings:
    """A company's distribution settings; the defaults apply until an admin sets them."""

    offer_timeout_seconds: int = 60
    sticky_window_seconds: int = 7 * DAY  # 0 turns sticky sender off
    parked_count_toward_capacity: bool = True
    max_parking_seconds: int | None = None  # None: parked email stays with its agent
    inactivity_seconds: int = 30 * DAY  # outbound email without an answer is closed after it

    def checked(self) -> DistributionSettings:
        _within("offer timeout", self.offer_timeout_seconds, 5, 3_600)
        _within("sticky window", self.sticky_window_seconds, 0, 365 * DAY)
        if self.max_parking_seconds is not None:
            _within("maximum parking time", self.max_parking_seconds, 60, 365 * DAY)
        _within("inactivity period", self.inactivity_seconds, 3_600, 365 * DAY)
        return self

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any] | None) -> DistributionSettings:
        return cls() if not payload else cls(**payload)

    def payload(self) -> dict[str, Any]:
        return {
            "offer_timeout_seconds": self.offer_timeout_seconds,
            "sticky_window_seconds": self.sticky_window_seconds,
            "parked_count_toward_capacity": self.parked_count_toward_capacity,
            "max_parking_seconds": self.max_parking_seconds,
            "inactivity_seconds": self.inactivity_seconds,
        }


def _within(name: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise InvalidInput(f"the {name} is {low}-{high} seconds, not {value}")


@dataclass(frozen=True)
class AgentState:
    """What distribution needs to know about one agent at one moment."""

    agent_id: UUID
    queue_ids: frozenset[UUID]
    capacity: int
    idle_since: datetime
    logged_in: bool = True
    present: bool = True
    paused: bool = False
    on_call: bool = False
    held: int = 0  # interactions the agent owns, active or parked
    parked: int = 0
    offer_pending: bool = False

    def load(self, settings: DistributionSettings) -> int:
        return self.held if settings.parked_count_toward_capacity else self.held - self.parked

    def with_offer(self, at: datetime) -> AgentState:
        """The same agent right after being offered something."""
        return replace(self, offer_pending=True, idle_since=max(self.idle_since, at))


def unavailability(agent: AgentState, settings: DistributionSettings) -> str | None:
    """Why this agent may not be offered anything now, or None if they are free."""
    checks = (
        (not agent.logged_in, LOGGED_OUT),
        (not agent.present, ABSENT),
        (agent.paused, PAUSED),
        (agent.on_call, ON_CALL),
        (agent.offer_pending, OFFER_PENDING),
        (agent.load(settings) + 1 > agent.capacity, FULL),
    )
    return next((why for failed, why in checks if failed), None)


def exclusion(
    agent: AgentState, queue_id: UUID, settings: DistributionSettings, rejected_by: Sequence[UUID]
) -> str | None:
    """Why this agent may not be offered an email of this queue now, or None if they may."""
    if queue_id not in agent.queue_ids:
        return NOT_MEMBER
    if agent.agent_id in rejected_by:
        return REJECTED
    return unavailability(agent, settings)


@dataclass(frozen=True)
class LastHandler:
    """The last agent who handled an email of this sender, and when."""

    agent_id: UUID
    handled_at: datetime


@dataclass(frozen=True)
class Decision:
    agent_id: UUID | None
    reason: dict[str, Any] = field(default_factory=dict)


def choose(
    queue_id: UUID,
    agents: Sequence[AgentState],
    settings: DistributionSettings,
    *,
    rejected_by: Sequence[UUID] = (),
    last_handler: LastHandler | None = None,
    now: datetime,
) -> Decision:
    """The agent to offer an email of `queue_id` to: sticky sender first, else longest idle."""
    eligible: list[AgentState] = []
    excluded: dict[str, str] = {}
    for agent in agents:
        why = exclusion(agent, queue_id, settings, rejected_by)
        if why is None:
            eligible.append(agent)
        elif why != NOT_MEMBER:
            excluded[str(agent.agent_id)] = why
    ranked = sorted(eligible, key=lambda a: (a.idle_since, str(a.agent_id)))
    sticky = _sticky(last_handler, eligible, settings, now)
    candidates = [_candidate(a, settings) for a in ranked]
    reason: dict[str, Any] = {
        "queue_id": str(queue_id),
        "at": now.isoformat(),
        "candidates": candidates[:MAX_LISTED],
        "candidate_count": len(candidates),
        "excluded": dict(list(excluded.items())[:MAX_LISTED]),
        "excluded_count": len(excluded),
        "sticky": sticky,
    }
    chosen = replayed_choice(reason)
    if chosen is None:
        return Decision(None, {**reason, "rule": "none", "why": "no eligible agent"})
    if sticky is not None and sticky["applies"]:
        why = f"last handled this sender at {sticky['handled_at']}, within the sticky window"
        return Decision(chosen, {**reason, "rule": "sticky-sender", "why": why})
    why = f"idle the longest, since {candidates[0]['idle_since']}"
    return Decision(chosen, {**reason, "rule": "longest-idle", "why": why})


def _candidate(agent: AgentState, settings: DistributionSettings) -> dict[str, Any]:
    return {
        "agent_id": str(agent.agent_id),
        "idle_since": agent.idle_since.isoformat(),
        "load": agent.load(settings),
        "capacity": agent.capacity,
    }


def _sticky(
    last: LastHandler | None,
    eligible: Sequence[AgentState],
    settings: DistributionSettings,
    now: datetime,
) -> dict[str, Any] | None:
    if last is None:
        return None
    is_eligible = any(a.agent_id == last.agent_id for a in eligible)
    window = timedelta(seconds=settings.sticky_window_seconds)
    within = settings.sticky_window_seconds > 0 and now - last.handled_at <= window
    return {
        "agent_id": str(last.agent_id),
        "handled_at": last.handled_at.isoformat(),
        "eligible": is_eligible,
        "within_window": within,
        "applies": is_eligible and within,
    }


def replayed_choice(reason: Mapping[str, Any]) -> UUID | None:
    """The agent a recorded reason designates: the same rule, applied to the recorded inputs."""
    sticky = reason.get("sticky")
    if sticky is not None and sticky["applies"]:
        return UUID(sticky["agent_id"])
    candidates = reason["candidates"]
    if not candidates:
        return None
    first = min(candidates, key=lambda c: (c["idle_since"], c["agent_id"]))
    return UUID(first["agent_id"])


def round_is_over(rejected_by: Sequence[UUID], logged_in_members: Sequence[UUID]) -> bool:
    """Every logged-in member of the queue rejected (or let expire) the offer in this round."""
    return bool(rejected_by) and set(logged_in_members) <= set(rejected_by)
