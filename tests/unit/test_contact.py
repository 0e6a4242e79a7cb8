"""Contact and AddressClaim: names and addresses agents correct, one contact per address."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from copy import deepcopy
from datetime import datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.domain import Aggregate
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.actors import OPERATOR, Actor
from domain.application import ContactCenter
from domain.contact import MAX_ADDRESSES, AddressClaim, Contact, check_address
from domain.errors import (
    AddressOfAnotherContact,
    ContactNotFound,
    DomainError,
    InvalidAddress,
    InvalidInput,
    PrimaryAddressKept,
    RuleViolated,
)
from domain.ids import contact_id_for
from tests.fakes import T0

POPO = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
COMPANY = uuid4()
AGENT = Actor("agent", uuid4())


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def recorded(aggregate: Aggregate) -> list[str]:
    return [type(e).__name__ for e in aggregate.collect_events()]


@contextmanager
def refused(aggregate: Aggregate, error: type[DomainError]) -> Iterator[None]:
    """Then the command raises `error`, records nothing and changes nothing."""
    before = deepcopy(aggregate.__dict__)
    with pytest.raises(error):
        yield
    assert recorded(aggregate) == []
    assert aggregate.__dict__ == before


@pytest.fixture
def carol() -> Contact:
    contact = Contact.register(COMPANY, "carol@customer.test", "Carol", actor="agent", at=at(0))
    contact.collect_events()
    return contact


# --- the aggregate ---------------------------------------------------------------------------


def test_a_contact_is_named_by_its_company_and_primary_address() -> None:
    contact = Contact.register(COMPANY, " Carol@Customer.TEST ", " Carol ", actor="x", at=at(0))

    assert recorded(contact) == ["Registered"]
    assert contact.id == contact_id_for(COMPANY, "carol@customer.test")
    assert contact.id != contact_id_for(uuid4(), "carol@customer.test")
    assert (contact.name, contact.addresses) == ("Carol", ["carol@customer.test"])


@pytest.mark.parametrize(
    "address",
    [
        "",
        "carol",
        "carol@",
        "@customer.test",
        "carol@customer",
        "a b@c.test",
        "<a@b.test>",
        "a@b.test, c@d.test",
        "a@-b.test",
        "a@b_c.test",
        "x" * 65 + "@b.test",
        "a@" + "b" * 250 + ".test",
    ],
)
def test_only_a_bare_address_is_accepted(address: str) -> None:
    with pytest.raises(InvalidAddress):
        check_address(address)


def test_addresses_are_kept_case_folded() -> None:
    assert check_address("Élodie.O'Neil+news@Exämple.co.uk") == "élodie.o'neil+news@exämple.co.uk"


@pytest.mark.parametrize("name", ["x" * 201, "Carol\r\nBcc: x@y.test", "Carol\x00"])
def test_a_name_is_at_most_200_characters_on_one_line(carol: Contact, name: str) -> None:
    with refused(carol, InvalidInput):
        carol.rename(name, actor="agent", at=at(1))


def test_renaming_records_only_a_change(carol: Contact) -> None:
    carol.rename("Carol", actor="agent", at=at(1))
    assert recorded(carol) == []

    carol.rename("Carol Smith", actor="agent", at=at(2))

    assert recorded(carol) == ["Renamed"]
    assert carol.name == "Carol Smith"


def test_addresses_are_added_once_and_the_primary_stays_first(carol: Contact) -> None:
    carol.add_address("Carol@Work.test", actor="agent", at=at(1))
    carol.add_address("carol@work.test", actor="agent", at=at(2))
    carol.add_address("carol@customer.test", actor="agent", at=at(3))

    assert recorded(carol) == ["AddressAdded"]
    assert carol.addresses == ["carol@customer.test", "carol@work.test"]


def test_a_contact_has_at_most_20_addresses(carol: Contact) -> None:
    for n in range(1, MAX_ADDRESSES):
        carol.add_address(f"carol{n}@customer.test", actor="agent", at=at(n))
    carol.collect_events()

    with refused(carol, InvalidInput):
        carol.add_address("one-more@customer.test", actor="agent", at=at(30))


def test_the_primary_address_is_never_removed(carol: Contact) -> None:
    with refused(carol, PrimaryAddressKept):
        carol.remove_address("CAROL@customer.test", actor="agent", at=at(1))
    with refused(carol, InvalidInput):
        carol.remove_address("nobody@customer.test", actor="agent", at=at(1))


def test_an_edit_removes_before_it_adds_so_a_full_contact_can_swap(carol: Contact) -> None:
    for n in range(1, MAX_ADDRESSES):
        carol.add_address(f"carol{n}@customer.test", actor="agent", at=at(n))
    carol.collect_events()

    carol.edit(
        name=None,
        add=["new@customer.test"],
        remove=["carol1@customer.test"],
        actor="agent",
        at=at(30),
    )

    assert recorded(carol) == ["AddressRemoved", "AddressAdded"]
    assert "new@customer.test" in carol.addresses
    assert len(carol.addresses) == MAX_ADDRESSES
    with pytest.raises(InvalidInput):
        carol.edit(name=None, add=["x@y.test"], remove=["X@y.test"], actor="agent", at=at(31))


def test_an_address_claim_belongs_to_one_contact_at_a_time() -> None:
    first, second = uuid4(), uuid4()
    claim = AddressClaim(
        company_id=COMPANY, address="a@b.test", contact_id=first, actor="agent", timestamp=at(0)
    )
    claim.collect_events()

    claim.claim(first, actor="agent", at=at(1))
    assert recorded(claim) == []
    with refused(claim, AddressOfAnotherContact):
        claim.claim(second, actor="agent", at=at(1))
    with refused(claim, RuleViolated):
        claim.release(second, actor="agent", at=at(1))
    claim.release(first, actor="agent", at=at(2))
    claim.claim(second, actor="agent", at=at(3))

    assert recorded(claim) == ["Released", "Reclaimed"]
    assert claim.contact_id == second


# --- the application -------------------------------------------------------------------------


@pytest.fixture
def app() -> Iterator[ContactCenter]:
    app = ContactCenter(env=POPO)
    app.create_company(COMPANY, name="Acme", timezone="UTC", open_limit=10, by=OPERATOR, at=at(0))
    yield app
    app.close()


def edit(app: ContactCenter, address: str, **changes: object) -> Contact:
    contact_id = contact_id_for(COMPANY, address)
    saved = app.edit_contact(
        COMPANY, contact_id, seen_address=address, seen_name="Seen", by=AGENT, at=at(5), **changes
    )
    contact: Contact = saved.aggregate
    return contact


def test_the_first_edit_registers_the_contact_mail_had_shown(app: ContactCenter) -> None:
    contact = edit(app, "carol@customer.test", name="Carol Smith")

    events = list(app.events.get(contact.id))
    assert [type(e).__name__ for e in events] == ["Registered", "Renamed"]
    assert events[0].name == "Seen"  # type: ignore[attr-defined]
    assert app.contact(contact.id, COMPANY).name == "Carol Smith"
    claim = app.address_claim(COMPANY, "Carol@Customer.test")
    assert claim is not None
    assert claim.contact_id == contact.id


def test_an_edit_that_changes_nothing_registers_nothing(app: ContactCenter) -> None:
    before = app.recorder.max_notification_id()

    edit(app, "carol@customer.test", name="Seen", add_addresses=["carol@customer.test"])

    assert app.recorder.max_notification_id() == before
    with pytest.raises(ContactNotFound):
        app.contact(contact_id_for(COMPANY, "carol@customer.test"))


def test_a_contact_is_found_only_in_its_company_and_by_its_own_address(
    app: ContactCenter,
) -> None:
    contact = edit(app, "carol@customer.test", name="Carol")
    with pytest.raises(ContactNotFound):
        app.contact(contact.id, uuid4())
    dave = contact_id_for(COMPANY, "dave@customer.test")
    with pytest.raises(ContactNotFound):  # the read side's address must name the contact
        app.edit_contact(
            COMPANY, dave, name="D", seen_address="carol@customer.test", by=AGENT, at=at(6)
        )
    with pytest.raises(ContactNotFound):
        app.edit_contact(COMPANY, dave, name="D", by=AGENT, at=at(6))


def test_an_address_of_another_contact_refuses_the_whole_edit(app: ContactCenter) -> None:
    edit(app, "carol@customer.test", add_addresses=["shared@customer.test"])
    before = app.recorder.max_notification_id()

    with pytest.raises(AddressOfAnotherContact):
        edit(app, "dave@customer.test", name="Dave", add_addresses=["Shared@customer.test"])
    with pytest.raises(AddressOfAnotherContact):  # a registered contact's primary, too
        edit(app, "dave@customer.test", add_addresses=["carol@customer.test"])

    assert app.recorder.max_notification_id() == before


def test_a_removed_address_can_go_to_another_contact(app: ContactCenter) -> None:
    carol = edit(app, "carol@customer.test", add_addresses=["shared@customer.test"])
    edit(app, "carol@customer.test", remove_addresses=["shared@customer.test"])

    dave = edit(app, "dave@customer.test", add_addresses=["shared@customer.test"])

    claim = app.address_claim(COMPANY, "shared@customer.test")
    assert claim is not None
    assert claim.contact_id == dave.id != carol.id
    assert app.contact(carol.id).addresses == ["carol@customer.test"]


# --- any sequence of edits -------------------------------------------------------------------

ADDRESSES = [f"c{n}@customer.test" for n in range(24)]  # more than a contact may have
edits = st.lists(
    st.tuples(
        st.none() | st.sampled_from(["", "Carol", "Carol Smith", "x" * 201]),
        st.lists(st.sampled_from(ADDRESSES), max_size=len(ADDRESSES)),
        st.lists(st.sampled_from(ADDRESSES[:6]), max_size=2),
    ),
    max_size=12,
)


@settings(max_examples=60, deadline=None)
@given(edits)
def test_any_edits_keep_a_contact_valid_and_as_predicted(
    steps: list[tuple[str | None, list[str], list[str]]],
) -> None:
    contact = Contact.register(COMPANY, ADDRESSES[0], "", actor="agent", at=at(0))
    history = contact.collect_events()
    name, addresses = "", [ADDRESSES[0]]
    for n, (new_name, add, remove) in enumerate(steps):
        expected = predicted(name, addresses, new_name, add, remove)
        if not isinstance(expected, tuple):
            with pytest.raises(expected):
                contact.edit(name=new_name, add=add, remove=remove, actor="agent", at=at(n))
            contact.collect_events()  # the application saves nothing of a refused edit
            contact = replayed(history)
            continue
        contact.edit(name=new_name, add=add, remove=remove, actor="agent", at=at(n))
        history += contact.collect_events()
        name, addresses = expected
        assert (contact.name, contact.addresses) == (name, addresses)
        assert len(set(addresses)) == len(addresses) <= MAX_ADDRESSES
    assert replayed(history) == contact


def predicted(
    name: str, addresses: list[str], new_name: str | None, add: list[str], remove: list[str]
) -> tuple[str, list[str]] | type[DomainError]:
    """The model: the new name and addresses, or the error that refuses the edit."""
    if set(add) & set(remove) or (new_name is not None and len(new_name) > 200):
        return InvalidInput
    current = list(addresses)
    for address in remove:
        if address == ADDRESSES[0]:
            return PrimaryAddressKept
        if address not in current:
            return InvalidInput
        current.remove(address)
    for address in add:
        if address not in current:
            if len(current) == MAX_ADDRESSES:
                return InvalidInput
            current.append(address)
    return (name if new_name is None else new_name), current


def replayed(history: list[Any]) -> Contact:
    """The contact rebuilt from its stored events."""
    rebuilt: Contact | None = None
    for event in history:
        rebuilt = event.mutate(rebuilt)  # type: ignore[assignment]
    assert rebuilt is not None
    return rebuilt
