"""Commands on an interaction: each route maps to one application command."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from fastapi import APIRouter

from api import sending
from api.access import require_visible, visible_queue
from api.auth import Principal
from api.bootstrap import Services
from api.deps import CurrentUser, ServicesDep
from api.presenters import interaction_out
from api.schemas.interactions import (
    CloseIn,
    DraftIn,
    ForwardIn,
    InteractionOut,
    NoteIn,
    ReplyIn,
    SubstatusIn,
    TagsIn,
    TransferIn,
)
from domain.application import Saved
from domain.interaction import Interaction

router = APIRouter(prefix="/v1/interactions", tags=["interactions"])


def answer(saved: Saved, user: Principal, services: Services) -> InteractionOut:
    interaction: Interaction = saved.aggregate
    handling = interaction.handling_ms_at(services.clock())
    return interaction_out(interaction, saved.position, user, handling)


def scope_of(services: Services, user: Principal, interaction_id: UUID) -> UUID:
    """The caller's company, once the interaction is one the caller's access profile shows
    (else 404, as for an unknown id); the command checks that it belongs to the company."""
    return require_visible(services, user, interaction_id)


def run(
    services: Services,
    user: Principal,
    interaction_id: UUID,
    command: Any,
    *args: Any,
    **kwargs: Any,
) -> InteractionOut:
    """Runs one command on the interaction as the caller, now, and answers with its state."""
    saved = command(
        interaction_id,
        *args,
        scope=scope_of(services, user, interaction_id),
        by=user.actor,
        at=services.clock(),
        **kwargs,
    )
    return answer(saved, user, services)


@router.post("/{interaction_id}/accept")
def accept(interaction_id: UUID, user: CurrentUser, services: ServicesDep) -> InteractionOut:
    """Accept an interaction from its queue or an offer; the caller becomes its owner."""
    return run(services, user, interaction_id, services.app.accept)


@router.post("/{interaction_id}/reject")
def reject(interaction_id: UUID, user: CurrentUser, services: ServicesDep) -> InteractionOut:
    """Reject an offer; the interaction goes back to waiting in its queue."""
    return run(services, user, interaction_id, services.app.reject)


@router.post("/{interaction_id}/park")
def park(interaction_id: UUID, user: CurrentUser, services: ServicesDep) -> InteractionOut:
    """Park the active interaction: ownership kept, handling-time segment closed."""
    return run(services, user, interaction_id, services.app.park)


@router.post("/{interaction_id}/resume")
def resume(interaction_id: UUID, user: CurrentUser, services: ServicesDep) -> InteractionOut:
    """Resume a parked interaction; any other active one of the owner is parked."""
    return run(services, user, interaction_id, services.app.resume)


@router.post("/{interaction_id}/reply", responses={413: {}, 422: {}})
def reply(
    interaction_id: UUID, body: ReplyIn, user: CurrentUser, services: ServicesDep
) -> InteractionOut:
    """Queue a reply (or reply-all) in the customer's thread; the outbox delivers it over SMTP.

    `then` closes the interaction or sets a sub-status (e.g. Pending) in the same command."""
    scope = scope_of(services, user, interaction_id)
    saved = sending.reply(services, scope, interaction_id, body, user.actor)
    return answer(saved, user, services)


@router.post("/{interaction_id}/forward", responses={413: {}, 422: {}})
def forward(
    interaction_id: UUID, body: ForwardIn, user: CurrentUser, services: ServicesDep
) -> InteractionOut:
    """Queue a forward of the customer's last email to someone else (attached, or inline)."""
    scope = scope_of(services, user, interaction_id)
    saved = sending.forward(services, scope, interaction_id, body, user.actor)
    return answer(saved, user, services)


@router.post("/{interaction_id}/transfer")
def transfer(
    interaction_id: UUID, body: TransferIn, user: CurrentUser, services: ServicesDep
) -> InteractionOut:
    """Transfer to another agent (who then owns it, parked) or to a queue."""
    scope = scope_of(services, user, interaction_id)
    if body.to_agent_id is not None:
        saved = services.app.transfer_to_agent(
            interaction_id, body.to_agent_id, scope=scope, by=user.actor, at=services.clock()
        )
    else:
        assert body.to_queue_id is not None
        visible_queue(services, user, body.to_queue_id)  # one the caller may not see: 404
        saved = services.app.transfer_to_queue(
            interaction_id, body.to_queue_id, scope=scope, by=user.actor, at=services.clock()
        )
    return answer(saved, user, services)


@router.post("/{interaction_id}/return")
def return_to_queue(
    interaction_id: UUID, user: CurrentUser, services: ServicesDep
) -> InteractionOut:
    """Give the interaction back to its queue."""
    return run(services, user, interaction_id, services.app.return_to_queue)


@router.post("/{interaction_id}/notes")
def add_note(
    interaction_id: UUID, body: NoteIn, user: CurrentUser, services: ServicesDep
) -> InteractionOut:
    """Add an internal note (never sent to the customer).

    A supervisor or admin may address it to one agent (`for_agent_id`): then only that agent,
    supervisors and admins read it; anyone else addressing a note is refused with 409."""
    return run(
        services,
        user,
        interaction_id,
        services.app.add_note,
        uuid4(),
        body.text,
        for_agent_id=body.for_agent_id,
    )


@router.put("/{interaction_id}/draft")
def save_draft(
    interaction_id: UUID, body: DraftIn, user: CurrentUser, services: ServicesDep
) -> InteractionOut:
    """Save the caller's draft, replacing the previous one."""
    return run(services, user, interaction_id, services.app.save_draft, body.model_dump())


@router.delete("/{interaction_id}/draft")
def discard_draft(interaction_id: UUID, user: CurrentUser, services: ServicesDep) -> InteractionOut:
    """Discard the caller's draft."""
    return run(services, user, interaction_id, services.app.discard_draft)


@router.post("/{interaction_id}/substatus")
def set_substatus(
    interaction_id: UUID, body: SubstatusIn, user: CurrentUser, services: ServicesDep
) -> InteractionOut:
    """Set a sub-status such as Pending, or clear it with null."""
    return run(services, user, interaction_id, services.app.set_substatus, body.substatus)


@router.post("/{interaction_id}/tags")
def change_tags(
    interaction_id: UUID, body: TagsIn, user: CurrentUser, services: ServicesDep
) -> InteractionOut:
    """Add and remove tags."""
    return run(
        services, user, interaction_id, services.app.change_tags, add=body.add, remove=body.remove
    )


@router.post("/{interaction_id}/mark-unread")
def mark_unread(interaction_id: UUID, user: CurrentUser, services: ServicesDep) -> InteractionOut:
    """Mark as unread."""
    return run(services, user, interaction_id, services.app.mark, unread=True)


@router.post("/{interaction_id}/mark-read")
def mark_read(interaction_id: UUID, user: CurrentUser, services: ServicesDep) -> InteractionOut:
    """Mark as read."""
    return run(services, user, interaction_id, services.app.mark, unread=False)


@router.post("/{interaction_id}/close")
def close(
    interaction_id: UUID, body: CloseIn, user: CurrentUser, services: ServicesDep
) -> InteractionOut:
    """Close with a disposition path (mandatory where the company says so)."""
    return run(services, user, interaction_id, services.app.close_interaction, body.disposition)


@router.post("/{interaction_id}/reopen")
def reopen(interaction_id: UUID, user: CurrentUser, services: ServicesDep) -> InteractionOut:
    """Reopen: an agent takes it back active; a supervisor or admin sends it to its queue."""
    return run(services, user, interaction_id, services.app.reopen)
