"""Group commit on PostgreSQL: concurrent saves share transactions and lose none of the
library's guarantees (optimistic concurrency, gap-free ids in commit order, one id per event)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, StoredEvent, Tracking
from eventsourcing.postgres import PostgresApplicationRecorder

from adapters.group_commit import GroupCommitRecorder, _Save
from adapters.persistence import Persistence, PostgresTarget

THREADS, SAVES = 16, 40


class Counter(Aggregate):
    def __init__(self) -> None:
        self.count = 0

    def increment(self) -> None:
        self.trigger_event(self.Incremented)

    class Incremented(Aggregate.Event):
        def apply(self, aggregate: Any) -> None:
            aggregate.count += 1


class Counters(Application[Any]):
    name = "Counters"


@pytest.fixture
def app(pg_schema: PostgresTarget, tmp_path: Path) -> Any:
    env = Persistence(data_dir=tmp_path, postgres=pg_schema, pool_size=THREADS).application_env()
    application = Counters(env=env)
    assert isinstance(application.recorder, GroupCommitRecorder)
    yield application
    application.close()


def stored(app: Counters, aggregate: Aggregate) -> list[StoredEvent]:
    return [app.mapper.to_stored_event(e) for e in aggregate.collect_events()]


def test_concurrent_saves_get_gap_free_ids_in_commit_order(app: Counters) -> None:
    barrier = threading.Barrier(THREADS)
    ids_by_thread: list[list[int]] = [[] for _ in range(THREADS)]
    failures: list[BaseException] = []

    def work(index: int) -> None:
        barrier.wait()
        try:
            counter = Counter()
            for _ in range(SAVES):
                counter.increment()
                recordings = app.save(counter)
                ids_by_thread[index].extend(r.notification.id for r in recordings)
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    issued = sorted(i for ids in ids_by_thread for i in ids)
    expected_events = THREADS * (SAVES + 1)  # each first save records Created + Incremented
    assert len(issued) == expected_events == len(set(issued))
    assert issued == list(range(issued[0], issued[0] + expected_events))
    for ids in ids_by_thread:
        assert ids == sorted(ids)
    log = app.recorder.select_notifications(start=1, limit=expected_events + 10)
    assert [n.id for n in log] == issued
    versions: dict[Any, list[int]] = {}
    for notification in log:
        versions.setdefault(notification.originator_id, []).append(notification.originator_version)
    assert all(v == list(range(1, SAVES + 2)) for v in versions.values())


def test_a_stale_save_in_a_group_fails_alone(app: Counters) -> None:
    recorder = app.recorder
    assert isinstance(recorder, GroupCommitRecorder)
    shared = Counter()
    app.save(shared)
    fresh: Counter = app.repository.get(shared.id)
    stale: Counter = app.repository.get(shared.id)
    fresh.increment()
    stale.increment()  # the same version as `fresh`: whoever comes second is stale
    before, after = Counter(), Counter()
    group = [_Save(stored(app, before)), _Save(stored(app, fresh)), _Save(stored(app, stale))]
    group.append(_Save(stored(app, after)))

    recorder._write(group)

    assert [save.recorded for save in group] == [True] * 4
    assert isinstance(group[2].error, IntegrityError)
    assert [save.error for save in (group[0], group[1], group[3])] == [None] * 3
    assert [len(save.ids) for save in group] == [1, 1, 0, 1]
    assert app.repository.get(shared.id).count == 1
    assert app.repository.get(after.id).version == 1


def test_a_stale_save_through_the_application_raises(app: Counters) -> None:
    counter = Counter()
    app.save(counter)
    first: Counter = app.repository.get(counter.id)
    second: Counter = app.repository.get(counter.id)
    first.increment()
    second.increment()
    app.save(first)
    with pytest.raises(IntegrityError):
        app.save(second)
    assert app.repository.get(counter.id).count == 1


def test_saves_with_recorder_arguments_take_the_library_path(
    app: Counters, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[dict[str, Any]] = []

    def library_insert(self: Any, events: Any, **kwargs: Any) -> list[int]:
        calls.append(kwargs)
        return []

    monkeypatch.setattr(PostgresApplicationRecorder, "insert_events", library_insert)
    tracking = Tracking("upstream", 1)
    app.recorder.insert_events(stored(app, Counter()), tracking=tracking)
    assert calls == [{"tracking": tracking}]


def test_concurrent_saves_share_transactions(
    app: Counters, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = app.recorder
    assert isinstance(recorder, GroupCommitRecorder)
    groups: list[int] = []
    write = GroupCommitRecorder._write

    def counted(self: GroupCommitRecorder, group: list[_Save]) -> None:
        groups.append(len(group))
        write(self, group)

    monkeypatch.setattr(GroupCommitRecorder, "_write", counted)
    barrier = threading.Barrier(THREADS)

    def work() -> None:
        barrier.wait()
        counter = Counter()
        for _ in range(SAVES):
            counter.increment()
            app.save(counter)

    threads = [threading.Thread(target=work) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(groups) == THREADS * SAVES
    assert len(groups) < THREADS * SAVES / 2  # two saves or more per transaction on average


def test_a_lone_caller_never_waits_for_others(
    app: Counters, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("adapters.group_commit.GATHER_SECONDS", 5.0)
    counter = Counter()
    started = time.perf_counter()
    for _ in range(20):
        counter.increment()
        app.save(counter)
    assert time.perf_counter() - started < 5.0  # a single wait for a second caller is 5 s
