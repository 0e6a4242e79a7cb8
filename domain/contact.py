"""Contact: a customer of one company, by name and email addresses, as agents corrected it.

Until someone edits it, a contact exists only on the read side, learned from mail: one per
customer address, named by `contact_id_for(company, address)`. The first edit registers it
here with that address as its primary one. An `AddressClaim` per address, saved with every
change, keeps each address on at most one registered contact of a company.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import (
    AddressOfAnotherContact,
    InvalidAddress,
    InvalidInput,
    PrimaryAddressKept,
    RuleViolated,
)
from domain.ids import address_claim_id, contact_id_for

MAX_ADDRESSES = 20
MAX_NAME = 200
MAX_ADDRESS = 254  # RFC 5321's limit on a forward path, less the angle brackets
_LABEL = r"[^\W_](?:(?:[^\W_]|-){0,61}[^\W_])?"
_ADDRESS = re.compile(rf"[^\s@<>()\[\],;:\\\"]{{1,64}}@(?:{_LABEL}\.)+{_LABEL}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_address(value: str) -> str:
    """One bare address (`local@domain`), as stored: stripped and case-folded."""
    address = value.strip().casefold()
    if len(address) > MAX_ADDRESS or not _ADDRESS.fullmatch(address):
        raise InvalidAddress(f"not an email address: {value[:MAX_ADDRESS]!r}")
    return address


def check_name(value: str) -> str:
    name = value.strip()
    if len(name) > MAX_NAME:
        raise InvalidInput(f"a contact's name has at most {MAX_NAME} characters")
    if _CONTROL.search(name):
        raise InvalidInput("a contact's name cannot contain control characters")
    return name


class Contact(Aggregate):
    """A customer of one company: a name and up to 20 addresses, the first one primary."""

    class Registered(Aggregate.Created):
        company_id: UUID
        address: str
        name: str  # as learned from mail until then
        actor: str

    class Renamed(Aggregate.Event):
        name: str
        actor: str

    class AddressAdded(Aggregate.Event):
        company_id: UUID
        address: str
        actor: str

    class AddressRemoved(Aggregate.Event):
        company_id: UUID
        address: str
        actor: str

    @staticmethod
    def create_id(company_id: UUID, address: str, **_: object) -> UUID:
        return contact_id_for(company_id, address)

    @classmethod
    def register(
        cls, company_id: UUID, address: str, name: str, *, actor: str, at: datetime
    ) -> Contact:
        return cls(
            company_id=company_id,
            address=check_address(address),
            name=check_name(name),
            actor=actor,
            timestamp=at,
        )

    @event(Registered)
    def __init__(
        self, *, company_id: UUID, address: str, name: str, actor: str, timestamp: datetime
    ) -> None:
        self.company_id, self.name = company_id, name
        self.addresses: list[str] = [address]

    @property
    def primary_address(self) -> str:
        return self.addresses[0]

    def rename(self, name: str, *, actor: str, at: datetime) -> None:
        name = check_name(name)
        if name != self.name:
            self._renamed(name=name, actor=actor, timestamp=at)

    @event(Renamed)
    def _renamed(self, name: str, actor: str, timestamp: datetime) -> None:
        self.name = name

    def add_address(self, address: str, *, actor: str, at: datetime) -> None:
        address = check_address(address)
        if address in self.addresses:
            return
        if len(self.addresses) >= MAX_ADDRESSES:
            raise InvalidInput(f"a contact has at most {MAX_ADDRESSES} addresses")
        self._address_added(company_id=self.company_id, address=address, actor=actor, timestamp=at)

    @event(AddressAdded)
    def _address_added(
        self, company_id: UUID, address: str, actor: str, timestamp: datetime
    ) -> None:
        self.addresses.append(address)

    def remove_address(self, address: str, *, actor: str, at: datetime) -> None:
        address = check_address(address)
        if address == self.primary_address:
            raise PrimaryAddressKept(f"{address} is the primary address of contact {self.id}")
        if address not in self.addresses:
            raise InvalidInput(f"contact {self.id} has no address {address}")
        self._address_removed(
            company_id=self.company_id, address=address, actor=actor, timestamp=at
        )

    @event(AddressRemoved)
    def _address_removed(
        self, company_id: UUID, address: str, actor: str, timestamp: datetime
    ) -> None:
        self.addresses.remove(address)

    def edit(
        self,
        *,
        name: str | None,
        add: Sequence[str],
        remove: Sequence[str],
        actor: str,
        at: datetime,
    ) -> None:
        """One edit: removals before additions, so that a full contact can swap an address."""
        overlap = {check_address(a) for a in add} & {check_address(a) for a in remove}
        if overlap:
            raise InvalidInput(f"addresses both added and removed: {sorted(overlap)}")
        if name is not None:
            self.rename(name, actor=actor, at=at)
        for address in remove:
            self.remove_address(address, actor=actor, at=at)
        for address in add:
            self.add_address(address, actor=actor, at=at)


class AddressClaim(Aggregate):
    """Which registered contact of a company an address belongs to, if any now."""

    class Claimed(Aggregate.Created):
        company_id: UUID
        address: str
        contact_id: UUID
        actor: str

    class Released(Aggregate.Event):
        contact_id: UUID
        actor: str

    class Reclaimed(Aggregate.Event):
        contact_id: UUID
        actor: str

    @staticmethod
    def create_id(company_id: UUID, address: str, **_: object) -> UUID:
        return address_claim_id(company_id, address)

    @event(Claimed)
    def __init__(
        self, *, company_id: UUID, address: str, contact_id: UUID, actor: str, timestamp: datetime
    ) -> None:
        self.company_id, self.address = company_id, address
        self.contact_id: UUID | None = contact_id

    def claim(self, contact_id: UUID, *, actor: str, at: datetime) -> None:
        if self.contact_id == contact_id:
            return
        if self.contact_id is not None:
            raise AddressOfAnotherContact(f"{self.address} belongs to another contact")
        self._reclaimed(contact_id=contact_id, actor=actor, timestamp=at)

    @event(Reclaimed)
    def _reclaimed(self, contact_id: UUID, actor: str, timestamp: datetime) -> None:
        self.contact_id = contact_id

    def release(self, contact_id: UUID, *, actor: str, at: datetime) -> None:
        if self.contact_id != contact_id:
            raise RuleViolated(f"{self.address} does not belong to contact {contact_id}")
        self._released(contact_id=contact_id, actor=actor, timestamp=at)

    @event(Released)
    def _released(self, contact_id: UUID, actor: str, timestamp: datetime) -> None:
        self.contact_id = None
