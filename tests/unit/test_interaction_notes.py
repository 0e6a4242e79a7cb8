"""Notes addressed to one agent: who may address them, and notes stored before they existed."""

from __future__ import annotations

from dataclasses import replace
from uuid import UUID, uuid4

import pytest

from api.thread import Body, may_read_note, readable, readable_timeline, thread
from domain.actors import Actor
from domain.application import ContactCenter
from domain.interaction import Interaction, NoteAddressingRefused
from projections.timeline import details
from tests.unit.test_interaction import (
    ADA,
    ANN,
    ANN_ID,
    BOB,
    BOB_ID,
    SUE,
    at,
    inbound,
    refused,
)

POPO = {"PERSISTENCE_MODULE": "eventsourcing.popo"}


@pytest.fixture
def routed_interaction() -> Interaction:
    interaction = Interaction(
        id=uuid4(),
        company_id=uuid4(),
        mailbox="support@acme.test",
        message=inbound(1),
        continues=None,
        actor="customer",
        timestamp=at(0),
    )
    interaction.route(uuid4(), None, 0, "mailbox default", at=at(0))
    return interaction


@pytest.mark.parametrize("author", [SUE, ADA])
def test_a_supervisor_or_admin_addresses_a_note_to_one_agent(
    author: Actor, routed_interaction: Interaction
) -> None:
    routed_interaction.collect_events()
    routed_interaction.add_note(uuid4(), "Call her back", author, at=at(1), for_agent_id=ANN_ID)

    [note] = routed_interaction.collect_events()
    assert isinstance(note, Interaction.NoteAdded)
    assert (note.text, note.actor, note.for_agent_id) == ("Call her back", str(author), ANN_ID)


def test_a_note_for_everyone_is_addressed_to_nobody(routed_interaction: Interaction) -> None:
    routed_interaction.collect_events()
    routed_interaction.add_note(uuid4(), "Customer called", ANN, at=at(1))

    [note] = routed_interaction.collect_events()
    assert isinstance(note, Interaction.NoteAdded)
    assert note.for_agent_id is None


@pytest.mark.parametrize("target", [ANN_ID, BOB_ID])
def test_an_agent_may_not_address_a_note(routed_interaction: Interaction, target: UUID) -> None:
    routed_interaction.collect_events()
    with refused(routed_interaction, NoteAddressingRefused):
        routed_interaction.add_note(uuid4(), "psst", BOB, at=at(1), for_agent_id=target)


def test_a_note_stored_before_notes_were_addressed_still_loads_and_replays(
    routed_interaction: Interaction,
) -> None:
    """The library rebuilds an event from its stored state (`Mapper.to_domain_event`); a state
    without `for_agent_id` takes the field's default."""
    app = ContactCenter(env=POPO)
    routed_interaction.add_note(uuid4(), "From the old days", SUE, at=at(1))
    stored = [app.mapper.to_stored_event(e) for e in routed_interaction.collect_events()]
    state = app.mapper.transcoder.decode(stored[-1].state)
    del state["for_agent_id"]  # the shape NoteAdded had before this field existed
    stored[-1] = replace(stored[-1], state=app.mapper.transcoder.encode(state))
    app.recorder.insert_events(stored)

    reloaded = app.repository.get(routed_interaction.id)
    old_note = list(app.events.get(routed_interaction.id))[-1]
    assert isinstance(old_note, Interaction.NoteAdded)
    assert (old_note.text, old_note.for_agent_id) == ("From the old days", None)
    assert details(old_note)["for_agent_id"] is None  # what the timeline stores
    assert reloaded.version == routed_interaction.version
    app.close()


def test_an_addressed_note_reads_only_for_its_agent_supervisors_and_admins(
    routed_interaction: Interaction,
) -> None:
    routed_interaction.add_note(uuid4(), "for everyone", BOB, at=at(1))
    routed_interaction.add_note(uuid4(), "for Ann", SUE, at=at(2), for_agent_id=ANN_ID)
    items = thread(routed_interaction.collect_events(), lambda blob: Body())

    def texts(reader: Actor) -> list[str]:
        return [i.get("text", "email") for i in readable(items, reader.kind, reader.user_id)]

    assert texts(ANN) == texts(SUE) == texts(ADA) == ["email", "for everyone", "for Ann"]
    assert texts(BOB) == ["email", "for everyone"]
    assert not may_read_note(str(ANN_ID), "agent", None)
    entries = [
        {"type": "note_added", "details": {"for_agent_id": str(ANN_ID)}},
        {"type": "note_added", "details": {}},  # stored before notes were addressed
        {"type": "routed", "details": {}},
    ]
    assert len(readable_timeline(entries, "agent", BOB_ID)) == 2
    assert len(readable_timeline(entries, "agent", ANN_ID)) == 3
