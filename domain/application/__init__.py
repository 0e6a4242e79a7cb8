"""The command side of inboxflow: one eventsourcing Application over every aggregate."""

from __future__ import annotations

from domain.application.admin import Administration
from domain.application.base import Saved
from domain.application.contacts import Contacts
from domain.application.dispatch import Dispatch
from domain.application.inbound import Delivery, FindByRef
from domain.application.ingestion import Ingestion
from domain.application.outbox import Outbox
from domain.application.work import Work


class ContactCenter(Administration, Work, Ingestion, Outbox, Dispatch, Contacts):
    """All write-side aggregates in one log, so one notification sequence feeds every view."""

    name = "ContactCenter"


__all__ = ["ContactCenter", "Delivery", "FindByRef", "Saved"]
