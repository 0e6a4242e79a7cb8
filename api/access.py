"""Access profiles: which interactions and queues a user may read and act on.

An interaction is visible to a user when they are an admin, have no profile (every queue),
can see its queue (`Agent.can_see_queue`: a queue in their profile or one they are a member
of), or it is theirs (they own it, or it is offered to them). Anything else answers exactly
as a non-existent id does (404), so nothing about it leaks.
"""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from api.auth import Principal
from api.bootstrap import Services
from domain.errors import InteractionNotFound, QueueNotFound
from domain.interaction import Interaction
from domain.queue import Queue

QueueFilter = Callable[[UUID | None], bool]


def company_of(user: Principal) -> UUID:
    """The caller's company; the operator manages companies and reads no mail."""
    if user.company_id is None:
        raise InteractionNotFound("the operator reads no mail")
    return user.company_id


def restricted(user: Principal) -> bool:
    """Whether an access profile narrows what this caller sees."""
    return user.role != "admin" and user.visible_queue_ids is not None


def every_queue(queue_id: UUID | None) -> bool:
    return True


def queue_filter(services: Services, user: Principal) -> QueueFilter:
    """Which queues' interactions the caller sees, as a predicate on the queue id."""
    if not restricted(user):
        return every_queue
    return services.app.agent(user.user_id, company_of(user)).can_see_queue


def can_see(services: Services, user: Principal, interaction: Interaction) -> bool:
    if not restricted(user) or interaction.queue_id in (user.visible_queue_ids or ()):
        return True
    me = user.actor.user_id
    if me is not None and me in (interaction.owner, interaction.offered_to):
        return True
    return queue_filter(services, user)(interaction.queue_id)  # a member queue


def visible_interaction(services: Services, user: Principal, interaction_id: UUID) -> Interaction:
    """The interaction, if this caller may see it; InteractionNotFound otherwise."""
    interaction = services.app.interaction(interaction_id, company_of(user))
    if not can_see(services, user, interaction):
        raise InteractionNotFound(f"no interaction {interaction_id}")
    return interaction


def require_visible(services: Services, user: Principal, interaction_id: UUID) -> UUID:
    """Before a command: the caller's company, once the interaction is known to be visible
    (only loaded for a caller with a profile; the command checks the company itself)."""
    scope = company_of(user)
    if restricted(user):
        visible_interaction(services, user, interaction_id)
    return scope


def visible_queue(services: Services, user: Principal, queue_id: UUID) -> Queue:
    """The queue, if it is the caller's company's and the caller may see it; else 404."""
    if user.company_id is None:
        raise QueueNotFound(f"no queue {queue_id}")
    queue = services.app.queue(queue_id, user.company_id)
    if not queue_filter(services, user)(queue.id):
        raise QueueNotFound(f"no queue {queue_id}")
    return queue
