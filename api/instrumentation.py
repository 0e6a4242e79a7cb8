"""Metrics taken from outside the domain: commands, events appended, and scrape-time gauges.

The domain stays pure: nothing under domain/ knows about metrics. `instrument(app)` wraps, on
one ContactCenter instance, each command and `save`. A command is a public method of
domain/application that takes the time `at` and no `batch` (a method taking a batch is a step
inside a command); a command run by another command counts once, as the outer one.

`ScrapeGauges` computes, when `/metrics` is scraped, what the database knows whichever process
did the work: the log's head, each projection's lag, the outbox depth and which IMAP mailboxes
are paused by their company's open limit.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from contextvars import ContextVar
from functools import wraps
from typing import Any

from eventsourcing.persistence import IntegrityError

from api.bootstrap import Services
from api.metrics import METRICS
from domain.application import ContactCenter
from domain.errors import DomainError, RuleViolated
from projections.outbox import PendingSends

log = logging.getLogger(__name__)

INSTRUMENTED = "_inboxflow_instrumented"
_in_command: ContextVar[bool] = ContextVar("in_command", default=False)


def command_names(cls: type[ContactCenter]) -> list[str]:
    names = []
    for name, function in inspect.getmembers(cls, inspect.isfunction):
        if name.startswith("_") or not function.__module__.startswith("domain.application"):
            continue
        parameters = inspect.signature(function).parameters
        if "at" in parameters and "batch" not in parameters:
            names.append(name)
    return names


def outcome_of(error: BaseException) -> str:
    """conflict: a rule refused the command for the state it found (HTTP 409), including a
    concurrent change it could not get past; refused: anything else the domain refused."""
    if isinstance(error, RuleViolated | IntegrityError):
        return "conflict"
    if isinstance(error, DomainError):
        return "refused"
    return "error"


def _counted(name: str, command: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        if _in_command.get():
            return command(*args, **kwargs)
        outer = _in_command.set(True)
        try:
            result = command(*args, **kwargs)
        except Exception as error:
            METRICS.inc("inboxflow_commands_total", command=name, outcome=outcome_of(error))
            raise
        finally:
            _in_command.reset(outer)
        METRICS.inc("inboxflow_commands_total", command=name, outcome="ok")
        return result

    return run


def _counting_events(save: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(save)
    def counted(*objs: Any, **kwargs: Any) -> Any:
        recordings = save(*objs, **kwargs)
        for recording in recordings or ():
            event_type = type(recording.domain_event).__qualname__
            METRICS.inc("inboxflow_events_appended_total", type=event_type)
        return recordings

    return counted


def instrument(app: ContactCenter) -> ContactCenter:
    """Counts the commands and appended events of `app`; once, however often it is called."""
    if getattr(app, INSTRUMENTED, False):
        return app
    for name in command_names(type(app)):
        setattr(app, name, _counted(name, getattr(app, name)))
    setattr(app, "save", _counting_events(app.save))  # noqa: B010 (mypy: a method)
    setattr(app, INSTRUMENTED, True)
    return app


class ScrapeGauges:
    """The gauges the database answers, computed when `/metrics` is scraped."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self._own_outbox: PendingSends | None = None

    def outbox(self) -> PendingSends:
        """The send worker's view when it runs here, else one opened for reading."""
        for worker in self.services.workers:
            found = getattr(worker, "outbox", None)
            if isinstance(found, PendingSends):
                return found
        if self._own_outbox is None:
            persistence = self.services.settings.persistence()
            self._own_outbox = PendingSends.open(
                persistence.view_datastore(PendingSends.name),
                create_tables=persistence.create_tables,
            )
        return self._own_outbox

    def refresh(self) -> None:
        """Sets every scrape-time gauge; a failing database leaves them as they were."""
        try:
            self._refresh()
        except Exception as error:  # the counters are still worth serving
            log.warning("metrics from the database are unavailable: %s", error)

    def _refresh(self) -> None:
        services = self.services
        head = services.app.recorder.max_notification_id() or 0
        METRICS.set_gauge("inboxflow_log_position", head)
        lags = services.read.lags(head)
        outbox = self.outbox()
        lags[outbox.name] = max(0, head - (outbox.view.max_tracking_id(services.app.name) or 0))
        METRICS.replace_gauges(
            "inboxflow_projection_lag", (({"projection": n}, lag) for n, lag in lags.items())
        )
        (depth,) = outbox.view.select("SELECT COUNT(*) AS depth FROM {pending}")
        METRICS.set_gauge("inboxflow_outbox_depth", int(depth["depth"]))
        paused = {
            row["company_id"]
            for row in services.read.company_limits.view.select(
                "SELECT company_id FROM {companies} WHERE paused = ?", True
            )
        }
        mailboxes = services.mailbox_status.view.select(
            "SELECT mailbox_id, company_id FROM {mailboxes}"
        )
        METRICS.replace_gauges(
            "inboxflow_ingest_paused",
            (
                ({"mailbox": row["mailbox_id"]}, float(row["company_id"] in paused))
                for row in mailboxes
            ),
        )

    def close(self) -> None:
        if self._own_outbox is not None:
            self._own_outbox.view.close()
            self._own_outbox = None
