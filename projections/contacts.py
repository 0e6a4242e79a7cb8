"""Contacts: one row per customer of a company, its addresses, and its journey.

Mail teaches the view a contact per customer address (the sender of inbound mail, the first
recipient of outbound), named as the customer signs. Edits (`Contact` events) win over what mail
taught: a renamed contact keeps its name, and an address added to a contact brings that
address's interactions with it, past and future; removing the address gives them back to the
contact the address names on its own.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from domain.contact import Contact
from domain.ids import contact_id_for
from domain.interaction import Interaction
from projections.base import Projection, Table, Tx, handles
from projections.contacts_query import ContactQueries, search_text
from projections.search import counterpart


class Contacts(ContactQueries, Projection):
    """Customers by company, most recently seen first, and each one's interactions."""

    name = "contacts"
    tables = (
        Table(
            "contacts",
            "contact_id TEXT NOT NULL, company_id TEXT NOT NULL, name TEXT NOT NULL, "
            "name_edited INTEGER NOT NULL, primary_address TEXT NOT NULL, "
            "first_seen_at TEXT NOT NULL, last_seen_at TEXT NOT NULL, "
            "interaction_count BIGINT NOT NULL, search_text TEXT NOT NULL",
            "contact_id",
            ("company_id, last_seen_at, contact_id",),
        ),
        Table(
            "addresses",
            "company_id TEXT NOT NULL, address TEXT NOT NULL, contact_id TEXT NOT NULL, "
            "learned_name TEXT NOT NULL",
            "company_id, address",
            ("contact_id",),
        ),
        Table(
            "interactions",
            "interaction_id TEXT NOT NULL, contact_id TEXT NOT NULL, company_id TEXT NOT NULL, "
            "address TEXT NOT NULL, created_at TEXT NOT NULL, subject TEXT NOT NULL, "
            "status TEXT NOT NULL, queue_id TEXT, last_activity_at TEXT NOT NULL, "
            "last_message_at TEXT NOT NULL",
            "interaction_id",
            ("contact_id, created_at, interaction_id", "company_id, address"),
        ),
    )

    # --- what mail teaches -------------------------------------------------------------

    @handles(Interaction.Received, Interaction.Started)
    def _opened(self, tx: Tx, e: Any, position: int) -> None:
        address, name = counterpart(e.message)
        address = address.strip().casefold()
        if not address:
            return
        contact_id = self._contact_of(tx, e.company_id, address, e.timestamp)
        self._learn(tx, e.company_id, address, name)
        started = isinstance(e, Interaction.Started)
        tx.insert(
            "interactions",
            interaction_id=e.originator_id,
            contact_id=contact_id,
            company_id=e.company_id,
            address=address,
            created_at=e.timestamp,
            subject=e.message["subject"],
            status="active" if started else "received",
            queue_id=e.queue_id if started else None,
            last_activity_at=e.timestamp,
            last_message_at=e.timestamp,
        )
        self._refresh(tx, contact_id)

    @handles(Interaction.MessageReceived)
    def _message(self, tx: Tx, e: Interaction.MessageReceived, position: int) -> None:
        row = tx.execute(
            "SELECT contact_id, company_id FROM {interactions} WHERE interaction_id = ?",
            e.originator_id,
        ).one()
        if row is None:  # an outbound email without a recipient has no contact
            return
        self._set(tx, e, last_message_at=e.timestamp)
        sender = e.message["sender"].strip().casefold()
        learned_by = self._learn(tx, row["company_id"], sender, e.message["sender_name"])
        self._refresh(tx, row["contact_id"])
        if learned_by is not None and learned_by != row["contact_id"]:
            self._refresh(tx, learned_by)

    @handles(Interaction.Routed, Interaction.ReturnedToQueue)
    def _queued(self, tx: Tx, e: Any, position: int) -> None:
        self._set(tx, e, status="queued", queue_id=e.queue_id)

    @handles(Interaction.Offered)
    def _offered(self, tx: Tx, e: Interaction.Offered, position: int) -> None:
        self._set(tx, e, status="offered")

    @handles(Interaction.OfferRejected, Interaction.OfferExpired)
    def _offer_ended(self, tx: Tx, e: Any, position: int) -> None:
        self._set(tx, e, status="queued")

    @handles(Interaction.Accepted, Interaction.Resumed)
    def _active(self, tx: Tx, e: Any, position: int) -> None:
        self._set(tx, e, status="active")

    @handles(Interaction.Parked)
    def _parked(self, tx: Tx, e: Interaction.Parked, position: int) -> None:
        self._set(tx, e, status="parked")

    @handles(Interaction.Transferred)
    def _transferred(self, tx: Tx, e: Interaction.Transferred, position: int) -> None:
        if e.to_agent_id is None:
            self._set(tx, e, status="queued", queue_id=e.to_queue_id)
        else:
            self._set(tx, e, status="parked")

    @handles(Interaction.Closed)
    def _closed(self, tx: Tx, e: Interaction.Closed, position: int) -> None:
        self._set(tx, e, status="closed")

    @handles(Interaction.Reopened)
    def _reopened(self, tx: Tx, e: Interaction.Reopened, position: int) -> None:
        if e.agent_id is None:
            self._set(tx, e, status="queued", queue_id=e.queue_id)
        else:
            self._set(tx, e, status="active")

    # --- what agents corrected -----------------------------------------------------------

    @handles(Contact.Registered)
    def _registered(self, tx: Tx, e: Contact.Registered, position: int) -> None:
        contact_id = self._new_contact(tx, e.company_id, e.address, e.timestamp, e.name)
        self._attach(tx, e.company_id, e.address, contact_id, learned_name=e.name)
        self._refresh(tx, contact_id)

    @handles(Contact.Renamed)
    def _renamed(self, tx: Tx, e: Contact.Renamed, position: int) -> None:
        tx.execute(
            "UPDATE {contacts} SET name = ?, name_edited = 1 WHERE contact_id = ?",
            e.name,
            e.originator_id,
        )
        self._refresh(tx, str(e.originator_id))

    @handles(Contact.AddressAdded)
    def _address_added(self, tx: Tx, e: Contact.AddressAdded, position: int) -> None:
        self._attach(tx, e.company_id, e.address, str(e.originator_id), learned_name="")
        self._refresh(tx, str(e.originator_id))

    @handles(Contact.AddressRemoved)
    def _address_removed(self, tx: Tx, e: Contact.AddressRemoved, position: int) -> None:
        """The address's interactions go back to the contact it names on its own."""
        known = tx.execute(
            "SELECT learned_name FROM {addresses} WHERE company_id = ? AND address = ?",
            e.company_id,
            e.address,
        ).one()
        used = tx.execute(
            "SELECT interaction_id FROM {interactions} WHERE company_id = ? AND address = ? "
            "LIMIT 1",
            e.company_id,
            e.address,
        ).one()
        if used is None or known is None:
            tx.execute(
                "DELETE FROM {addresses} WHERE company_id = ? AND address = ?",
                e.company_id,
                e.address,
            )
        else:
            own = self._new_contact(tx, e.company_id, e.address, e.timestamp)
            self._attach(tx, e.company_id, e.address, own, learned_name=known["learned_name"])
            self._refresh(tx, own)
        self._refresh(tx, str(e.originator_id))

    # --- shared steps --------------------------------------------------------------------

    def _contact_of(self, tx: Tx, company_id: UUID, address: str, at: datetime) -> str:
        row = tx.execute(
            "SELECT contact_id FROM {addresses} WHERE company_id = ? AND address = ?",
            company_id,
            address,
        ).one()
        if row is not None:
            return str(row["contact_id"])
        contact_id = self._new_contact(tx, company_id, address, at)
        tx.insert(
            "addresses",
            company_id=company_id,
            address=address,
            contact_id=contact_id,
            learned_name="",
        )
        return contact_id

    def _new_contact(
        self, tx: Tx, company_id: UUID, address: str, at: datetime, name: str = ""
    ) -> str:
        """The contact the address names on its own (also a registered contact's id)."""
        contact_id = str(contact_id_for(company_id, address))
        tx.execute(
            "INSERT INTO {contacts} (contact_id, company_id, name, name_edited, primary_address, "
            "first_seen_at, last_seen_at, interaction_count, search_text) "
            "VALUES (?, ?, ?, 0, ?, ?, ?, 0, '') ON CONFLICT (contact_id) DO NOTHING",
            contact_id,
            company_id,
            name,
            address,
            at,
            at,
        )
        return contact_id

    def _learn(self, tx: Tx, company_id: UUID, address: str, name: str) -> str | None:
        """Keeps the name a customer signs with; returns the contact of a known address."""
        row = tx.execute(
            "SELECT contact_id FROM {addresses} WHERE company_id = ? AND address = ?",
            company_id,
            address,
        ).one()
        if row is not None and name.strip():
            tx.execute(
                "UPDATE {addresses} SET learned_name = ? WHERE company_id = ? AND address = ?",
                name.strip(),
                company_id,
                address,
            )
        return None if row is None else str(row["contact_id"])

    def _attach(
        self, tx: Tx, company_id: UUID, address: str, contact_id: str, *, learned_name: str
    ) -> None:
        """The address and its interactions now belong to `contact_id`; a contact left
        without any address was the address's own, and is merged away."""
        row = tx.execute(
            "SELECT contact_id FROM {addresses} WHERE company_id = ? AND address = ?",
            company_id,
            address,
        ).one()
        if row is None:
            tx.insert(
                "addresses",
                company_id=company_id,
                address=address,
                contact_id=contact_id,
                learned_name=learned_name,
            )
            return
        previous = str(row["contact_id"])
        if previous == contact_id:
            return
        for table in ("addresses", "interactions"):
            tx.execute(
                f"UPDATE {{{table}}} SET contact_id = ? WHERE company_id = ? AND address = ?",
                contact_id,
                company_id,
                address,
            )
        if tx.execute("SELECT address FROM {addresses} WHERE contact_id = ?", previous).one():
            self._refresh(tx, previous)
        else:
            tx.execute("DELETE FROM {contacts} WHERE contact_id = ?", previous)

    def _refresh(self, tx: Tx, contact_id: str) -> None:
        """Recounts a contact from its interactions and renames it from mail unless edited."""
        row = tx.execute(
            "SELECT name, name_edited, primary_address FROM {contacts} WHERE contact_id = ?",
            contact_id,
        ).one()
        if row is None:
            return
        stats = tx.execute(
            "SELECT COUNT(*) AS n, MIN(created_at) AS first, MAX(last_message_at) AS last "
            "FROM {interactions} WHERE contact_id = ?",
            contact_id,
        ).one()
        addresses = tx.execute(
            "SELECT address, learned_name FROM {addresses} WHERE contact_id = ? ORDER BY address",
            contact_id,
        ).all()
        name = row["name"]
        if not row["name_edited"]:
            learned = [
                a["learned_name"] for a in addresses if a["address"] == row["primary_address"]
            ]
            name = learned[0] if learned and learned[0] else name
        changes: dict[str, Any] = {
            "name": name,
            "interaction_count": stats["n"] if stats else 0,
            "search_text": search_text(name, [a["address"] for a in addresses]),
        }
        if stats and stats["n"]:  # a contact left without interactions keeps its history
            changes.update(first_seen_at=stats["first"], last_seen_at=stats["last"])
        assignments = ", ".join(f"{column} = ?" for column in changes)
        tx.execute(
            f"UPDATE {{contacts}} SET {assignments} WHERE contact_id = ?",
            *changes.values(),
            contact_id,
        )

    def _set(self, tx: Tx, e: Any, **columns: Any) -> None:
        """Assigns the columns (names from this module, never from input) and the activity."""
        columns["last_activity_at"] = e.timestamp
        assignments = ", ".join(f"{column} = ?" for column in columns)
        tx.execute(
            f"UPDATE {{interactions}} SET {assignments} WHERE interaction_id = ?",
            *columns.values(),
            e.originator_id,
        )
