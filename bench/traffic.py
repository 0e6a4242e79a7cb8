"""Synthetic contact-center traffic for the read-side benchmark.

Interactions are driven through the real domain model (pure, so no store is needed) and their
events are handed to the real projections page by page (`Projection.process_batch`, the path the
catch-up runner takes). Each interaction yields ten events on average: received, routed,
offered, accepted, a note, parked, resumed, a tag on some, a reply queued and sent, a customer
answer, closed.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

from domain.actors import SYSTEM, Actor
from domain.interaction import Interaction
from domain.messages import MessageInfo

WORDS = tuple(
    " ".join(
        (
            "invoice refund delivery parcel password account order broken missing late",
            "address payment card contract cancel upgrade warranty discount voucher login",
            "error damaged subscription shipping tracking return exchange receipt complaint",
            "thanks question",
        )
    ).split()
)
DISPOSITIONS = (["Resolved"], ["Resolved", "Refund"], ["Spam"], ["Resolved", "Explained"])


@dataclass
class Shape:
    """How much traffic, spread over how many companies, queues, agents and days."""

    interactions: int
    companies: int = 20
    queues_per_company: int = 10
    agents_per_company: int = 50
    days: int = 365
    seed: int = 7
    start: datetime = field(init=False, default=datetime(2026, 1, 1, 8, 0, tzinfo=UTC))
    company_ids: list[UUID] = field(init=False)
    queues: dict[UUID, list[UUID]] = field(init=False)
    agents: dict[UUID, list[UUID]] = field(init=False)

    def __post_init__(self) -> None:
        rng = random.Random(self.seed)
        ids = [UUID(int=rng.getrandbits(128), version=4) for _ in range(self.companies)]
        self.company_ids = ids
        self.queues = {
            c: [UUID(int=rng.getrandbits(128), version=4) for _ in range(self.queues_per_company)]
            for c in ids
        }
        self.agents = {
            c: [UUID(int=rng.getrandbits(128), version=4) for _ in range(self.agents_per_company)]
            for c in ids
        }

    def to_json(self) -> str:
        fields = ("interactions", "companies", "queues_per_company", "agents_per_company")
        return json.dumps({name: getattr(self, name) for name in (*fields, "days", "seed")})


def message(rng: random.Random, n: int, direction: str, customer: str) -> MessageInfo:
    words = " ".join(rng.choice(WORDS) for _ in range(30))
    subject = " ".join(rng.choice(WORDS) for _ in range(4)).capitalize()
    return MessageInfo(
        record_id=str(uuid4()),
        rfc_message_id=f"<{n}.{rng.getrandbits(48):x}@bench.test>",
        direction=direction,
        sender=customer if direction == "in" else "support@acme.test",
        sender_name=customer.split("@")[0].title() if direction == "in" else "Acme",
        to=["support@acme.test"] if direction == "in" else [customer],
        cc=[],
        subject=subject,
        snippet=words[:120],
        blob="sha256:" + "0" * 64,
        attachments=[],
    )


def interaction_events(shape: Shape, rng: random.Random, n: int) -> list[object]:
    """The events of one interaction's life; about one in five is still open at the end."""
    company = rng.choice(shape.company_ids)
    queue = rng.choice(shape.queues[company])
    agent_id = rng.choice(shape.agents[company])
    agent = Actor("agent", agent_id)
    customer = f"customer{rng.randrange(shape.interactions // 3 + 1)}@mail.test"
    at = shape.start + timedelta(seconds=n * shape.days * 86_400 / shape.interactions)
    step = timedelta(minutes=rng.randint(1, 30))
    interaction = Interaction(
        id=UUID(int=rng.getrandbits(128), version=4),
        company_id=company,
        mailbox="support@acme.test",
        message=message(rng, n, "in", customer),
        continues=None,
        actor="customer",
        timestamp=at,
    )
    interaction.route(queue, None, 1, "mailbox default", at=at)
    stage = rng.random()
    if stage < 0.1:
        return list(interaction.collect_events())
    interaction.offer(agent_id, {"why": "longest idle"}, at=(at := at + step))
    interaction.accept(agent, at=(at := at + step))
    interaction.add_note(uuid4(), "checked the order history", agent, at=(at := at + step))
    interaction.park(agent, at=(at := at + step))
    interaction.resume(agent, at=(at := at + step))
    if stage < 0.2:
        return list(interaction.collect_events())
    if stage < 0.5:
        interaction.tag(["priority"], agent, at=(at := at + step))
    reply = message(rng, n, "out", customer)
    interaction.queue_reply(reply, agent, forward=False, at=(at := at + step))
    interaction.record_sent(reply["record_id"], "250 OK", forward=False, at=(at := at + step))
    interaction.receive_message(message(rng, n, "in", customer), at=(at := at + step))
    interaction.close(rng.choice(DISPOSITIONS), agent, required=False, at=(at := at + step))
    return list(interaction.collect_events())


def generate(shape: Shape, first: int = 0, last: int | None = None) -> Iterator[object]:
    """The events of interactions first..last-1, in order of arrival; interaction n is the
    same whichever range it is generated in."""
    for n in range(first, shape.interactions if last is None else last):
        yield from interaction_events(shape, random.Random(shape.seed * 1_000_003 + n), n)


__all__ = ["SYSTEM", "Shape", "generate"]
