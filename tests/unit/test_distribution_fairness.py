"""A day of distribution, simulated on a fake clock: 20 agents, 3 queues, 5,000 emails.

The real application (in-memory event store), the real dispatch board (SQLite) and the real
dispatcher; agents accept, reject or ignore offers and work for random times, all drawn from a
seeded generator. Then the log is checked: no email was ever offered to two agents at once, no
agent ever held more than their capacity, every offer's recorded reason designates its agent,
and the same seed gives the same offers again (a shorter day, run twice).
"""

from __future__ import annotations

import random
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from adapters.persistence import Persistence
from adapters.presence import MemoryPresence
from api.workers.dispatch import Dispatcher
from domain.actors import OPERATOR, Actor
from domain.agent import Agent
from domain.application import ContactCenter
from domain.distribution import DistributionSettings, replayed_choice
from domain.errors import DomainError
from domain.interaction import Interaction
from domain.messages import InboundEmail
from projections.dispatch import DispatchBoard
from tests.fakes import FixedClock

TICK = timedelta(seconds=20)
PRIORITIES = {"Urgent": 9, "Billing": 5, "General": 1}
MEAN_HANDLING_S, REJECT, IGNORE = 150.0, 0.08, 0.03
OFFER_ENDS = (
    Interaction.OfferRejected,
    Interaction.OfferExpired,
    Interaction.Accepted,
    Interaction.Transferred,
    Interaction.ReturnedToQueue,
    Interaction.Closed,
)


@dataclass
class SimAgent:
    actor: Actor
    capacity: int
    active: UUID | None = None
    left_s: float = 0.0  # work left on the active email
    parked: list[UUID] = field(default_factory=list)
    handled: int = 0
    rejected: int = 0


class Simulation:
    def __init__(self, seed: int, emails: int, data_dir: Path) -> None:
        self.rng = random.Random(seed)
        self.emails, self.clock = emails, FixedClock()
        self.app = ContactCenter(
            env={"PERSISTENCE_MODULE": "eventsourcing.popo", "AGGREGATE_CACHE_MAXSIZE": "10000"}
        )
        datastore = Persistence(data_dir=data_dir).view_datastore(DispatchBoard.name)
        self.board = DispatchBoard.open(datastore)
        always_there = MemoryPresence(ttl=1e9)
        self.dispatcher = Dispatcher(
            self.app, self.board, always_there, self.clock, name="sim", max_offers=1000
        )
        self.company = self.uuid()
        self.agents: dict[UUID, SimAgent] = {}
        self.pending: dict[UUID, UUID] = {}  # agent -> interaction offered
        self.routed: dict[UUID, datetime] = {}
        self.waits: dict[str, list[float]] = defaultdict(list)

    def uuid(self) -> UUID:
        return UUID(int=self.rng.getrandbits(128), version=4)

    def setup(self) -> None:
        app, now, admin = self.app, self.clock(), Actor("admin", self.uuid())
        app.create_company(
            self.company, name="Sim", timezone="UTC", open_limit=10**6, by=OPERATOR, at=now
        )
        app.set_distribution(
            self.company, DistributionSettings(offer_timeout_seconds=40), by=admin, at=now
        )
        self.queues = {name: self.uuid() for name in PRIORITIES}
        for name, queue_id in self.queues.items():
            app.create_queue(
                queue_id, self.company, name=name, priority=PRIORITIES[name], by=admin, at=now
            )
        app.add_mailbox(
            self.company,
            self.uuid(),
            address="in@sim.test",
            default_queue_id=self.queues["General"],
            by=admin,
            at=now,
        )
        rules = [
            {
                "queue_id": str(self.queues[name]),
                "conditions": [{"field": "subject", "op": "starts_with", "value": name}],
            }
            for name in ("Urgent", "Billing")
        ]
        app.replace_routing_rules(self.company, rules, by=admin, at=now)
        names = list(self.queues.values())
        for n in range(20):
            agent_id = self.uuid()
            queue_ids = [q for q in names if self.rng.random() < 0.6] or [names[n % 3]]
            capacity = self.rng.choice([1, 2, 3])
            app.register_user(
                agent_id,
                self.company,
                name=f"agent {n}",
                email=f"a{n}@sim.test",
                role="agent",
                queue_ids=queue_ids,
                capacity=capacity,
                token_hash=f"t{n}-{agent_id}",
                by=admin,
                at=now,
            )
            actor = Actor("agent", agent_id)
            app.log_in(agent_id, scope=self.company, by=actor, at=self.clock.advance(seconds=1))
            self.agents[agent_id] = SimAgent(actor, capacity)

    def run(self) -> None:
        self.setup()
        arrivals_per_tick = 20 * TICK.total_seconds() / MEAN_HANDLING_S * 0.8
        sent = 0
        while (
            sent < self.emails
            or self.routed
            or any(a.active or a.parked for a in self.agents.values())
        ):
            now = self.clock.advance(seconds=TICK.total_seconds())
            for _ in range(min(self.poisson(arrivals_per_tick), self.emails - sent)):
                sent += 1
                self.arrive(sent, now)
            for agent_id, agent in self.agents.items():
                self.answer_offer(agent_id, agent, now)
                self.work(agent, now)
            cycle = self.dispatcher.run_once()
            self.pending.update({agent: interaction for interaction, agent in cycle.offers})
            for name, target in cycle.actions:
                if name == "expire offer":
                    self.pending = {a: i for a, i in self.pending.items() if i != target}
            assert self.clock() - timedelta(days=3) < now, "the simulation does not drain"

    def poisson(self, mean: float) -> int:
        count, threshold, product = 0, pow(2.718281828459045, -mean), self.rng.random()
        while product > threshold:
            count, product = count + 1, product * self.rng.random()
        return count

    def arrive(self, n: int, now: datetime) -> None:
        kind = self.rng.choices(list(PRIORITIES), weights=[1, 3, 6])[0]
        sender = f"customer{self.rng.randrange(800)}@sim.test"
        email = InboundEmail(
            rfc_message_id=f"<{n}@sim.test>",
            sender=sender,
            to=("in@sim.test",),
            subject=f"{kind} #{n}",
        )
        delivery = self.app.receive_email(
            self.company,
            email,
            recipient=None,
            arrived_at=now,
            at=now,
            find_by_ref=lambda c, r: None,
        )
        self.routed[delivery.interaction_id] = now

    def answer_offer(self, agent_id: UUID, agent: SimAgent, now: datetime) -> None:
        interaction_id = self.pending.get(agent_id)
        if interaction_id is None:
            return
        draw = self.rng.random()
        if draw < IGNORE:
            return  # the offer will expire
        del self.pending[agent_id]
        try:
            if draw < IGNORE + REJECT:
                self.app.reject(interaction_id, scope=self.company, by=agent.actor, at=now)
                agent.rejected += 1
                return
            self.app.accept(interaction_id, scope=self.company, by=agent.actor, at=now)
        except DomainError:
            return  # the offer expired meanwhile
        queue = self.app.interaction(interaction_id).queue_id
        self.waits[str(queue)].append((now - self.routed.pop(interaction_id)).total_seconds())
        if agent.active is not None:
            agent.parked.append(agent.active)
        agent.active, agent.left_s = interaction_id, self.rng.expovariate(1 / MEAN_HANDLING_S)

    def work(self, agent: SimAgent, now: datetime) -> None:
        agent.left_s -= TICK.total_seconds()
        if agent.active is None or agent.left_s > 0:
            return
        self.app.close_interaction(agent.active, [], scope=self.company, by=agent.actor, at=now)
        agent.handled += 1
        agent.active = None
        if agent.parked:
            agent.active = agent.parked.pop(0)
            agent.left_s = self.rng.expovariate(1 / MEAN_HANDLING_S)
            self.app.resume(agent.active, scope=self.company, by=agent.actor, at=now)

    def events(self) -> Iterator[Any]:
        position = 0
        while page := self.app.recorder.select_notifications(
            position, 1000, inclusive_of_start=False
        ):
            yield from (self.app.mapper.to_domain_event(n) for n in page)
            position = page[-1].id

    def offers(self) -> list[tuple[UUID, UUID, str]]:
        return [
            (e.originator_id, e.agent_id, e.reason["rule"])
            for e in self.events()
            if isinstance(e, Interaction.Offered)
        ]


def check_the_log(sim: Simulation) -> Counter[str]:
    """Walks the whole log, asserting the invariants at every position."""
    offered_to: dict[UUID, UUID | None] = {}
    capacity = {agent_id: agent.capacity for agent_id, agent in sim.agents.items()}
    rules: Counter[str] = Counter()
    for event in sim.events():
        if isinstance(event, Interaction.Offered):
            assert offered_to.get(event.originator_id) is None, "offered to two agents at once"
            offered_to[event.originator_id] = event.agent_id
            assert replayed_choice(event.reason) == event.agent_id
            rules[event.reason["rule"]] += 1
        elif isinstance(event, OFFER_ENDS):
            offered_to[event.originator_id] = None
        if isinstance(event, Agent.WorkloadChanged):
            assert len(event.held) <= capacity[event.originator_id], "over capacity"
    return rules


def report(sim: Simulation, rules: Counter[str]) -> None:
    names = {str(q): name for name, q in sim.queues.items()}
    print(f"\n{sim.emails} emails, 20 agents, offers by rule: {dict(rules)}")
    for queue, waits in sorted(sim.waits.items(), key=lambda kv: -PRIORITIES[names[kv[0]]]):
        cut = statistics.quantiles(waits, n=10)
        print(
            f"  {names[queue]:8} (priority {PRIORITIES[names[queue]]}): {len(waits)} emails, "
            f"wait p50 {statistics.median(waits):.0f}s p90 {cut[-1]:.0f}s max {max(waits):.0f}s"
        )
    loads = sorted((a.handled, a.capacity, a.rejected) for a in sim.agents.values())
    print(f"  handled per agent (handled, capacity, rejected): {loads}")


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Simulation:
    sim = Simulation(seed=7, emails=5000, data_dir=tmp_path_factory.mktemp("sim"))
    sim.run()
    return sim


def test_a_simulated_day_keeps_every_rule_at_every_log_position(simulated: Simulation) -> None:
    rules = check_the_log(simulated)
    report(simulated, rules)
    assert sum(len(w) for w in simulated.waits.values()) == 5000
    assert rules["longest-idle"] > 0
    assert rules["sticky-sender"] > 0
    names = {str(q): name for name, q in simulated.queues.items()}
    p50 = {names[q]: statistics.median(w) for q, w in simulated.waits.items()}
    assert p50["Urgent"] <= p50["Billing"] <= p50["General"]  # priority orders the work


def test_the_same_inputs_give_the_same_offers(tmp_path: Path) -> None:
    first, again = (Simulation(seed=11, emails=1000, data_dir=tmp_path / d) for d in "ab")
    first.run()
    again.run()
    assert again.offers() == first.offers()
    assert len(first.offers()) >= 1000
