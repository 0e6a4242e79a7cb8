"""Every read model of inboxflow, built for one persistence setting and kept caught up."""

from __future__ import annotations

from collections.abc import Callable
from time import monotonic
from types import TracebackType
from typing import Any, TypeVar

from eventsourcing.application import Application

from adapters.leases import Lease
from adapters.persistence import Persistence
from projections.access_tokens import AccessTokens
from projections.agent_inbox import AgentInbox
from projections.audit_log import AuditLog
from projections.base import Projection
from projections.company_limits import CompanyLimits
from projections.contacts import Contacts
from projections.dispatch import DispatchBoard
from projections.listener import Listener
from projections.quarantine import Quarantine
from projections.queue_waiting import QueueWaiting
from projections.reports import Reports
from projections.runner import CatchUpRunner, Progress, rebuild
from projections.search import Search
from projections.timeline import Timeline
from projections.users import Users

PROJECTIONS: tuple[type[Projection], ...] = (
    Timeline,
    AgentInbox,
    QueueWaiting,
    CompanyLimits,
    Search,
    Quarantine,
    DispatchBoard,
    Contacts,
    Reports,
    AuditLog,
    Users,
    AccessTokens,
)
P = TypeVar("P", bound=Projection)
PROJECTION_NAMES = tuple(cls.name for cls in PROJECTIONS)


class ReadModels:
    """The views, one catch-up runner each; `wait(position)` gives read-your-writes.

    With `start=False` nothing runs here (another process projects, e.g. `inboxflow project`)
    and `wait` polls the views' tracking positions.
    """

    def __init__(
        self,
        persistence: Persistence,
        app: Application[Any],
        *,
        start: bool = True,
        page_size: int = 500,
        idle_poll: float = 0.05,
    ) -> None:
        self.app = app
        self.projections: dict[str, Projection] = {
            cls.name: cls.open(
                persistence.view_datastore(cls.name), create_tables=persistence.create_tables
            )
            for cls in PROJECTIONS
        }
        self.timeline = self._view(Timeline)
        self.agent_inbox = self._view(AgentInbox)
        self.queue_waiting = self._view(QueueWaiting)
        self.company_limits = self._view(CompanyLimits)
        self.search = self._view(Search)
        self.quarantine = self._view(Quarantine)
        self.dispatch = self._view(DispatchBoard)
        self.contacts = self._view(Contacts)
        self.reports = self._view(Reports)
        self.audit_log = self._view(AuditLog)
        self.users = self._view(Users)
        self.access_tokens = self._view(AccessTokens)
        self.runners = {
            name: CatchUpRunner(
                app, projection, page_size=page_size, idle_poll=idle_poll, listen=False
            )
            for name, projection in self.projections.items()
        }
        self._listener = Listener(app, self.wake) if Listener.applies(app) else None
        if start:
            self.start()

    def _view(self, cls: type[P]) -> P:
        projection = self.projections[cls.name]
        assert isinstance(projection, cls)
        return projection

    def start(self, lease_for: Callable[[str], Lease] | None = None) -> None:
        """Runs every projection here; with `lease_for(name)`, each only while holding its
        lease (several `inboxflow project` processes: one active per projection)."""
        for name, runner in self.runners.items():
            runner.start(lease_for(name) if lease_for is not None else None)
        if self._listener is not None:
            self._listener.start()

    def wake(self) -> None:
        """Call after each save: the runners look at the log at once."""
        for runner in self.runners.values():
            runner.wake()

    def wait(self, position: int, timeout: float = 5.0) -> bool:
        """True once every view has processed the log up to `position`."""
        deadline = monotonic() + timeout
        return all(
            runner.wait(position, max(0.0, deadline - monotonic()))
            for runner in self.runners.values()
        )

    def errors(self) -> dict[str, str]:
        """The projections that stopped, with the reason."""
        return {name: str(r.error) for name, r in self.runners.items() if r.error is not None}

    def positions(self) -> dict[str, int]:
        return {name: runner.current_position() for name, runner in self.runners.items()}

    def lags(self, head: int) -> dict[str, int]:
        """How far each view is behind the log's `head` position (ids, not event counts)."""
        return {name: max(0, head - position) for name, position in self.positions().items()}

    def rebuild(self, name: str, progress: Progress | None = None) -> int:
        """Replays the whole log into one view; its runner pauses meanwhile."""
        runner = self.runners[name]
        was_running, lease = runner.is_running, runner.lease
        runner.stop(release=False)
        position = rebuild(self.app, self.projections[name], progress=progress)
        if was_running:
            runner.start(lease)
        return position

    def close(self) -> None:
        if self._listener is not None:
            self._listener.stop()
        for runner in self.runners.values():
            runner.stop()
        for projection in self.projections.values():
            projection.view.close()

    def __enter__(self) -> ReadModels:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
