"""Timers read from an interaction's own events: since when each deadline has been running.

The dispatch worker finds due timers in a projection; before acting, the command asks these
functions again, on the events it has just loaded, so that a lagging view never closes or
moves an email whose situation has changed.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from domain.interaction import Interaction

INACTIVITY_DISPOSITION = "closed due to customer inactivity"

_OUR_MESSAGES = (Interaction.ReplyQueued, Interaction.ForwardQueued)
_WORK_RESTARTS = (
    Interaction.MessageReceived,
    Interaction.Transferred,
    Interaction.ReturnedToQueue,
    Interaction.Closed,
    Interaction.Reopened,
    Interaction.Accepted,
)
_PARKING_ENDS = (
    Interaction.Resumed,
    Interaction.Accepted,
    Interaction.Closed,
    Interaction.ReturnedToQueue,
    Interaction.Reopened,
)


def last_offer(events: Iterable[Any]) -> tuple[datetime, int] | None:
    """When the standing offer was made, and the version of its `offered` event."""
    found: tuple[datetime, int] | None = None
    for event in events:
        if isinstance(event, Interaction.Offered):
            found = (event.timestamp, event.originator_version)
        elif isinstance(event, Interaction.OfferRejected | Interaction.OfferExpired):
            found = None
    return found


def disposition_pending_since(events: Iterable[Any]) -> datetime | None:
    """Since the agent's last reply, with nothing new to do: the agent should dispose.

    Only once the customer has written: outbound email nobody answered waits for the
    customer instead (`awaiting_answer_since`).
    """
    since: datetime | None = None
    customer_wrote = False
    for event in events:
        if isinstance(event, Interaction.Received | Interaction.MessageReceived):
            customer_wrote = True
        if isinstance(event, _OUR_MESSAGES):
            since = event.timestamp
        elif isinstance(event, _WORK_RESTARTS):
            since = None
    return since if customer_wrote else None


def awaiting_answer_since(events: Iterable[Any]) -> datetime | None:
    """Outbound email the customer never answered: since our last message to them."""
    since: datetime | None = None
    for event in events:
        if isinstance(event, Interaction.Received | Interaction.MessageReceived):
            return None  # the customer wrote: not unanswered outbound email
        if isinstance(event, (Interaction.Started, Interaction.Reopened, *_OUR_MESSAGES)):
            since = event.timestamp
        elif isinstance(event, Interaction.Closed):
            since = None
    return since


def parked_since(events: Iterable[Any]) -> datetime | None:
    """Since when the email has been parked with its owner (parked, or transferred to them)."""
    since: datetime | None = None
    for event in events:
        if isinstance(event, Interaction.Parked):
            since = event.timestamp
        elif isinstance(event, Interaction.Transferred):
            since = event.timestamp if event.to_agent_id is not None else None
        elif isinstance(event, _PARKING_ENDS):
            since = None
    return since
