"""Optimistic concurrency for commands: retried on conflict, on a trusted aggregate cache.

Several processes write the same store, so any cached aggregate may be stale. Nothing is
locked for that: a command runs on what it has, and its outcome only counts once the store
has confirmed that nothing it relied on had changed; otherwise it runs again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from contextlib import suppress
from contextvars import ContextVar
from copy import deepcopy
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from functools import cache, wraps
from threading import RLock
from typing import Any, ParamSpec, TypeVar
from uuid import UUID

from eventsourcing.application import Repository, project_aggregate
from eventsourcing.persistence import IntegrityError

P = ParamSpec("P")
R = TypeVar("R")
IMMUTABLE = frozenset({str, int, float, bool, bytes, type(None), UUID, datetime, date, Decimal})

CONFLICT_ATTEMPTS = 10


class StaleAggregate(IntegrityError):
    """A cached aggregate a command relied on has newer events in the store."""


class Attempt:
    """One try of a command: the locks it holds (see `Batch.quota`) and the cached aggregates
    it relied on, by id and the version it saw (see `TrustingRepository`)."""

    __slots__ = ("locks", "reads", "repository", "saved")

    def __init__(self) -> None:
        self.locks: list[RLock] = []
        self.reads: dict[UUID, int] = {}
        self.repository: TrustingRepository | None = None
        self.saved = False

    def stale(self) -> bool:
        """Whether an aggregate it relied on changed since (it is evicted then). Once the
        command has saved, it is not run again: later loads were brought up to date."""
        if self.saved or self.repository is None:
            return False
        return bool(self.repository.evict_stale(self.reads))


_attempt: ContextVar[Attempt | None] = ContextVar("command_attempt", default=None)


def current_attempt() -> Attempt | None:
    """The try of the command running in this context, if any."""
    return _attempt.get()


def retried_on_conflict(method: Callable[P, R]) -> Callable[P, R]:
    """Optimistic concurrency: a conflicting save is retried on freshly loaded aggregates.

    No sleep is needed: the writer we conflicted with has already committed when the
    recorder reports the conflict, so the reload sees its events. A command that ends in an
    error, or returns without saving, is run again when a cached aggregate it relied on was
    stale, so that no outcome rests on an old copy.
    """

    @wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        for number in range(1, CONFLICT_ATTEMPTS + 1):
            attempt = Attempt()
            token = _attempt.set(attempt)
            try:
                result = method(*args, **kwargs)
                if not attempt.stale():
                    return result
            except IntegrityError:
                if number == CONFLICT_ATTEMPTS:
                    raise
            except Exception:
                if number == CONFLICT_ATTEMPTS or not attempt.stale():
                    raise
            finally:
                for lock in reversed(attempt.locks):
                    lock.release()
                _attempt.reset(token)
        raise StaleAggregate(f"{method.__name__}: cached aggregates stale {number} times")

    return wrapper


class TrustingRepository(Repository[UUID]):
    """The aggregate cache, trusted by commands and checked before their outcome counts.

    The library fast-forwards a cached aggregate with one query on every load. Inside a command
    (`retried_on_conflict`) the cached copy is used as it is: an aggregate the command changes
    is checked by the store (its next version must be free, else IntegrityError and the retry
    loads it afresh); one it only read is checked before the command's events are saved, its
    error raised or its no-op returned. A stale copy is evicted and the command runs again.
    Loads outside a command are brought up to date, as the library does.
    """

    def get(
        self,
        aggregate_id: UUID,
        *,
        version: int | None = None,
        projector_func: Any = project_aggregate,
        fastforward_skipping: bool = False,
        deepcopy_from_cache: bool = True,
    ) -> Any:
        if version is not None or self.cache is None or self.fastforward:
            return super().get(
                aggregate_id, version=version, projector_func=projector_func,
                fastforward_skipping=fastforward_skipping, deepcopy_from_cache=deepcopy_from_cache,
            )  # fmt: skip
        attempt = current_attempt()
        if attempt is not None and attempt.saved:
            attempt = None  # the command can no longer run again: no trust after its save
        try:
            aggregate = self.cache.get(aggregate_id)
        except KeyError:
            aggregate = self._reconstruct_aggregate(aggregate_id, None, projector_func)
            self.cache.put(aggregate_id, aggregate)
        else:
            if attempt is None:
                newer = list(self.event_store.get(originator_id=aggregate_id, gt=aggregate.version))
                if newer:  # the cached object is never changed: others may be copying it
                    aggregate = projector_func(copy_of(aggregate), newer)
                    self.cache.put(aggregate_id, aggregate)
        if attempt is not None:
            attempt.reads.setdefault(aggregate_id, aggregate.version)
            attempt.repository = self
        copied = deepcopy_from_cache and self.deepcopy_from_cache
        return copy_of(aggregate) if copied else aggregate

    def remember(self, aggregates: Iterable[Any]) -> None:
        """Caches copies of just saved aggregates: the caller may go on changing its own."""
        if self.cache is not None:
            for aggregate in aggregates:
                self.cache.put(aggregate.id, copy_of(aggregate))

    def evict(self, aggregate_ids: Iterable[UUID]) -> None:
        if self.cache is not None:
            for aggregate_id in aggregate_ids:
                with suppress(KeyError):
                    self.cache.get(aggregate_id, evict=True)

    def evict_stale(self, reads: Mapping[UUID, int]) -> list[UUID]:
        """Those of `reads` (id → version seen) with newer events stored, evicted."""
        recorder = self.event_store.recorder
        stale = [i for i, seen in reads.items() if recorder.select_events(i, gt=seen, limit=1)]
        self.evict(stale)
        return stale


def copy_of(aggregate: Any) -> Any:
    """`deepcopy(aggregate)` in a quarter of the time: values that never change (ids, times,
    enums, strings, numbers) are shared rather than rebuilt one by one, lists and dicts are
    copied directly, anything else deep-copied as usual. A class with copying hooks of its own
    is deep-copied as it asks."""
    cls = aggregate.__class__
    if _has_copy_hooks(cls):
        return deepcopy(aggregate)
    memo: dict[int, Any] = {}
    copied = memo[id(aggregate)] = cls.__new__(cls)
    state = copied.__dict__
    for name, value in vars(aggregate).items():
        state[name] = value if value.__class__ in IMMUTABLE else _copied(value, memo)
    return copied


def _copied(value: Any, memo: dict[int, Any]) -> Any:
    kind = type(value)
    if kind in IMMUTABLE or isinstance(value, Enum):
        return value
    if (seen := memo.get(id(value))) is not None:
        return seen  # shared within the aggregate, shared within the copy
    if kind is list:
        items: list[Any] = []
        memo[id(value)] = items
        items.extend([_copied(item, memo) for item in value])
        return items
    if kind is dict:
        entries: dict[Any, Any] = {}
        memo[id(value)] = entries
        for key, item in value.items():
            entries[_copied(key, memo)] = _copied(item, memo)
        return entries
    return deepcopy(value, memo)


@cache
def _has_copy_hooks(cls: type) -> bool:
    hooks = ("__deepcopy__", "__reduce__", "__reduce_ex__", "__getstate__", "__setstate__")
    return any(
        hook in vars(base) for base in cls.__mro__ if base is not object for hook in hooks
    ) or any(vars(base).get("__slots__") for base in cls.__mro__)
