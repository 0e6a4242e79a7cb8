"""Distribution's parts in one process: presence, notifications, the dispatcher, the publisher.

Redis serves presence and notifications when `INBOXFLOW_REDIS_URL` is set (any API process can
serve any agent's stream); otherwise both live in this process (the embedded default).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import Depends, FastAPI, Request

from adapters.notifier import MemoryNotifier, Note, Notifier, RedisNotifier
from adapters.persistence import Persistence
from adapters.presence import MemoryPresence, Presence, RedisPresence
from api.settings import Settings
from api.workers.dispatch import Dispatcher
from domain.application import ContactCenter
from projections.dispatch import DispatchBoard
from projections.notifications import Notifications
from projections.runner import CatchUpRunner, Listener

STALE_NOTES = timedelta(minutes=2)  # a publisher catching up on old events tells nobody
PARALLEL_OFFERS = 4  # PostgreSQL: a cycle's offers are made at once (SQLite has one writer)


@dataclass
class Distribution:
    """Everything distribution runs in this process; `start()` only where workers run."""

    presence: Presence
    notifier: Notifier
    board: DispatchBoard
    notifications: Notifications
    dispatcher: Dispatcher
    publisher: CatchUpRunner
    heartbeat: float = 10.0
    owns_board: bool = False
    closing: threading.Event = field(default_factory=threading.Event)
    listener: Listener | None = None
    closed: bool = False

    def start(self) -> Distribution:
        """Runs the dispatcher and the publisher in threads (where workers run)."""
        self.publisher.start()
        self.dispatcher.start()
        if self.listener is not None:
            self.listener.start()
        return self

    def wake(self) -> None:
        """Call after each save: offers and notifications follow at once."""
        self.dispatcher.wake()
        self.publisher.wake()

    def stop(self) -> None:
        """Stops the threads; streams end."""
        self.closing.set()
        if self.listener is not None:
            self.listener.stop()
        self.dispatcher.stop()
        self.publisher.stop()

    def close(self) -> None:
        """Stops, then closes connections (views, Redis); once."""
        if self.closed:
            return
        self.closed = True
        self.stop()
        self.notifications.view.close()
        if self.owns_board:
            self.board.view.close()
        self.presence.close()
        self.notifier.close()


def build_distribution(
    settings: Settings,
    persistence: Persistence,
    app: ContactCenter,
    *,
    clock: Callable[[], datetime],
    board: DispatchBoard | None = None,
    shared_runner: CatchUpRunner | None = None,
    presence: Presence | None = None,
    notifier: Notifier | None = None,
    presence_ttl: float = 30.0,
    heartbeat: float = 10.0,
    idle_poll: float = 0.25,
) -> Distribution:
    """`board`/`shared_runner`: the read models' own, when this process runs them."""
    if presence is None:
        url = settings.redis_url
        presence = RedisPresence(url, presence_ttl) if url else MemoryPresence(presence_ttl)
    if notifier is None:
        notifier = RedisNotifier(settings.redis_url) if settings.redis_url else MemoryNotifier()
    owns_board = board is None
    if board is None:
        board = DispatchBoard.open(
            persistence.view_datastore(DispatchBoard.name), create_tables=persistence.create_tables
        )
    notifications = Notifications.open(
        persistence.view_datastore(Notifications.name), create_tables=persistence.create_tables
    )
    notifications.publisher = _fresh_only(notifier, clock)
    dispatcher = Dispatcher(
        app,
        board,
        presence,
        clock,
        shared_runner=shared_runner,
        idle_poll=idle_poll,
        parallel_offers=PARALLEL_OFFERS if persistence.is_postgres else 1,
    )
    distribution = Distribution(
        presence=presence,
        notifier=notifier,
        board=board,
        notifications=notifications,
        dispatcher=dispatcher,
        publisher=CatchUpRunner(app, notifications, listen=False),
        heartbeat=heartbeat,
        owns_board=owns_board,
    )
    if Listener.applies(app):  # other processes' commits wake this one (PostgreSQL)
        distribution.listener = Listener(app, distribution.wake)
    return distribution


def _fresh_only(
    notifier: Notifier, clock: Callable[[], datetime]
) -> Callable[[Sequence[Note]], None]:
    def publish(notes: Sequence[Note]) -> None:
        now = clock()
        notifier.publish(
            [n for n in notes if now - datetime.fromisoformat(n.data["at"]) <= STALE_NOTES]
        )

    return publish


def get_distribution(request: Request) -> Distribution:
    distribution: Distribution = request.app.state.distribution
    return distribution


DistributionDep = Annotated[Distribution, Depends(get_distribution)]


def install(api: FastAPI, distribution: Distribution) -> None:
    """Adds distribution's routes to the API and makes `DistributionDep` find `distribution`."""
    from api.routes import distribution as settings_routes
    from api.routes import events

    api.state.distribution = distribution
    api.include_router(settings_routes.router)
    api.include_router(events.router)
