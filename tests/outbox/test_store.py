"""The SQLite store: durable rows, claiming in order, dead letters, bounds, a locked file."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from yellowbox_realtime.errors import NotFound
from yellowbox_realtime.outbox.errors import OutboxUnavailable
from yellowbox_realtime.outbox.store import NewDelivery, OutboxStore


def row(event_id: str, route: str = "n8n") -> list[NewDelivery]:
    return [NewDelivery(route, event_id, f'{{"id":"{event_id}"}}')]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[OutboxStore]:
    store = OutboxStore(tmp_path / "outbox.sqlite3", max_backlog=5, busy_timeout_ms=50)
    await store.open()
    yield store
    await store.close()


@pytest.fixture
def lock(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    """Another connection holding the write lock (in WAL mode EXCLUSIVE is IMMEDIATE:
    readers go on, writers wait and then fail)."""
    other = sqlite3.connect(tmp_path / "outbox.sqlite3", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    yield other
    other.execute("ROLLBACK")
    other.close()


async def test_the_file_is_in_wal_mode_with_full_sync(store: OutboxStore) -> None:
    db = sqlite3.connect(store.path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()


async def test_rows_are_claimed_in_order_once_and_survive_reopening(
        store: OutboxStore, tmp_path: Path) -> None:
    assert await store.add([row("a"), row("b"), row("c")], now=100.0) == [True] * 3
    claimed = await store.claim(2, now=100.0)
    assert [d.event_id for d in claimed] == ["a", "b"]
    assert [d.event_id for d in await store.claim(5, now=100.0)] == ["c"]
    assert await store.claim(5, now=100.0) == []
    await store.close()
    # Another process (the next start) sees what was committed, in flight included.
    again = OutboxStore(tmp_path / "outbox.sqlite3", max_backlog=5)
    await again.open()
    assert (await again.stats()).in_flight == 3
    assert await again.release() == 3
    assert [d.event_id for d in await again.claim(5, now=100.0)] == ["a", "b", "c"]
    await again.close()


async def test_retries_wait_for_their_time_and_then_come_first(store: OutboxStore) -> None:
    await store.add([row("a"), row("b")], now=100.0)
    first, second = await store.claim(2, now=100.0)
    await store.retry(first.id, 1, next_at=150.0, error="HTTP 500")
    await store.retry(second.id, 1, next_at=120.0, error="HTTP 500")
    assert await store.next_due() == 120.0
    assert await store.claim(5, now=119.0) == []
    due = await store.claim(5, now=200.0)
    assert [(d.event_id, d.attempts) for d in due] == [("b", 1), ("a", 1)]


async def test_done_rows_leave_and_the_same_event_is_not_queued_twice_per_route(
        store: OutboxStore) -> None:
    await store.add([row("a"), row("a"), row("a", route="other")], now=1.0)
    assert (await store.stats()).backlog == 2
    for delivery in await store.claim(5, now=1.0):
        await store.done(delivery.id)
    stats = await store.stats()
    assert (stats.backlog, stats.in_flight, stats.oldest_created_at) == (0, 0, None)


async def test_dead_letters_and_replay(store: OutboxStore) -> None:
    await store.add([row("a"), row("b")], now=10.0)
    a, b = await store.claim(2, now=10.0)
    await store.dead(a.id, 1, 404, "HTTP 404", now=11.0)
    await store.dead(b.id, 12, None, "ConnectError", now=12.0)
    stats = await store.stats()
    assert (stats.backlog, stats.dead_letters) == (0, 2)
    letters = await store.dead_letters(10)
    assert [(d.event_id, d.attempts, d.last_status, d.last_error) for d in letters] == [
        ("b", 12, None, "ConnectError"), ("a", 1, 404, "HTTP 404")]
    delivery_id = await store.replay(letters[1].id, now=50.0)
    (again,) = await store.claim(5, now=50.0)
    assert (again.id, again.event_id, again.attempts, again.created_at) == (
        delivery_id, "a", 0, 50.0)
    assert [d.event_id for d in await store.dead_letters(10)] == ["b"]
    with pytest.raises(NotFound):
        await store.replay(letters[1].id, now=60.0)


async def test_the_backlog_is_bounded_per_event(store: OutboxStore) -> None:
    assert await store.add([row("a"), row("b"), row("c")], now=1.0) == [True] * 3
    # Two routes for one event: both or neither.
    two = [*row("d"), *row("d", route="other")]
    assert await store.add([two, row("e"), row("f")], now=1.0) == [True, False, False]
    assert (await store.stats()).backlog == 5
    (first, *_) = await store.claim(1, now=1.0)
    await store.done(first.id)
    assert await store.add([row("e")], now=1.0) == [True]


async def test_a_locked_file_is_a_clear_temporary_error(
        store: OutboxStore, lock: sqlite3.Connection) -> None:
    with pytest.raises(OutboxUnavailable, match=r"database is locked.*another process") as info:
        await store.add([row("a")], now=1.0)
    assert info.value.http_status == 503
    assert info.value.temporary
    assert store.last_error is not None
    assert str(store.path) in store.last_error
    with pytest.raises(OutboxUnavailable, match="locked"):
        await store.check()
    # Reading goes on.
    assert (await store.stats()).backlog == 0


async def test_the_lock_released_the_store_recovers(store: OutboxStore, tmp_path: Path) -> None:
    other = sqlite3.connect(tmp_path / "outbox.sqlite3", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    with pytest.raises(OutboxUnavailable):
        await store.check()
    other.execute("ROLLBACK")
    other.close()
    await store.check()
    assert store.last_error is None
    assert await store.add([row("a")], now=1.0) == [True]


async def test_opening_without_create_needs_the_file(tmp_path: Path) -> None:
    store = OutboxStore(tmp_path / "missing.sqlite3", max_backlog=5)
    with pytest.raises(OutboxUnavailable, match="no such file"):
        await store.open(create=False)
    await store.close()
    assert not (tmp_path / "missing.sqlite3").exists()
