"""Contacts: agents correct the names and addresses the read side learned from mail."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate

from domain.actors import Actor
from domain.application.base import Repositories, Saved, retried_on_conflict
from domain.contact import AddressClaim, Contact, check_address
from domain.errors import ContactNotFound
from domain.ids import address_claim_id, contact_id_for


class Contacts(Repositories):
    """Edits of contacts, registering on the first edit one that only mail had shown."""

    def contact(self, contact_id: UUID, scope: UUID | None = None) -> Contact:
        return self._load(Contact, ContactNotFound, contact_id, scope)

    def address_claim(self, company_id: UUID, address: str) -> AddressClaim | None:
        try:
            claim: Aggregate = self.repository.get(address_claim_id(company_id, address))
        except AggregateNotFoundError:
            return None
        return claim if isinstance(claim, AddressClaim) else None

    @retried_on_conflict
    def edit_contact(
        self,
        company_id: UUID,
        contact_id: UUID,
        *,
        name: str | None = None,
        add_addresses: Sequence[str] = (),
        remove_addresses: Sequence[str] = (),
        seen_address: str | None = None,
        seen_name: str = "",
        by: Actor,
        at: datetime,
    ) -> Saved:
        """Renames, adds and removes addresses in one transaction, or changes nothing.

        `seen_address` and `seen_name` are what the read side knows of a contact not
        registered yet: its address must name `contact_id`, else the contact is not found.
        An address claimed by another contact refuses the whole edit; two edits racing for
        one address conflict on its claim, and the retry sees the winner's claim.
        """
        actor = str(by)
        claims: list[AddressClaim]
        try:
            contact = self.contact(contact_id, company_id)
            claims = []
        except ContactNotFound:
            if seen_address is None or contact_id_for(company_id, seen_address) != contact_id:
                raise
            contact = Contact.register(company_id, seen_address, seen_name, actor=actor, at=at)
            claims = [self._claim(company_id, contact.primary_address, contact.id, actor, at)]
        registered = len(contact.pending_events)
        contact.edit(name=name, add=add_addresses, remove=remove_addresses, actor=actor, at=at)
        if len(contact.pending_events) == registered:  # nothing changed: register nothing
            return Saved(contact, self.recorder.max_notification_id() or 0)
        for change in contact.pending_events:
            if isinstance(change, Contact.AddressAdded):
                claims.append(self._claim(company_id, change.address, contact.id, actor, at))
            elif isinstance(change, Contact.AddressRemoved):
                claim = self.address_claim(company_id, change.address)
                if claim is not None:
                    claim.release(contact.id, actor=actor, at=at)
                    claims.append(claim)
        batch = self.batch()
        batch.add(*claims)
        return batch.saved(contact)

    def _claim(
        self, company_id: UUID, address: str, contact_id: UUID, actor: str, at: datetime
    ) -> AddressClaim:
        address = check_address(address)
        claim = self.address_claim(company_id, address)
        if claim is None:
            return AddressClaim(
                company_id=company_id,
                address=address,
                contact_id=contact_id,
                actor=actor,
                timestamp=at,
            )
        claim.claim(contact_id, actor=actor, at=at)
        return claim
