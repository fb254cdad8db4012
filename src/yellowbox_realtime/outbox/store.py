"""The outbox's SQLite file: deliveries waiting, and dead letters.

Durability: WAL mode with ``synchronous=FULL``. In WAL mode ``NORMAL`` already survives a
crash of the gateway (SIGKILL, OOM), but a commit may be rolled back by a power cut or an
OS crash, because the WAL is fsynced only at checkpoints. The outbox's promise is that an
event acknowledged (202) is forwarded, and the publisher does not retry after a 202, so a
commit must reach the disk before the acknowledgement: ``FULL`` (one fsync of the WAL per
commit). The cost is paid per transaction, not per event: the gateway's own emits are
written in batches (see :meth:`OutboxStore.add`).

Threads: every call runs on one dedicated worker thread, which owns the connection (a
sqlite3 connection belongs to the thread that made it), and never on the event loop. Calls
run in the order they are made.

One gateway per file: :meth:`OutboxStore.release` (at start) treats every row marked in
flight as interrupted. The CLI may open the same file while the gateway runs; it only
reads, and its replays are ordinary short transactions.

SQLite errors become :class:`~.errors.OutboxUnavailable` naming the file and, for a locked
database or a full disk, what to look at; :attr:`OutboxStore.last_error` keeps the latest.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ..errors import NotFound
from .errors import OutboxUnavailable

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    route TEXT NOT NULL,
    event_id TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL,
    in_flight INTEGER NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    UNIQUE (route, event_id)
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (in_flight, next_at, id);
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    route TEXT NOT NULL,
    event_id TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at REAL NOT NULL,
    attempts INTEGER NOT NULL,
    failed_at REAL NOT NULL,
    last_status INTEGER,
    last_error TEXT NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class NewDelivery:
    route: str
    event_id: str
    body: str


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    route: str
    event_id: str
    body: str
    created_at: float
    attempts: int


@dataclass(frozen=True, slots=True)
class DeadLetter:
    id: int
    route: str
    event_id: str
    body: str
    created_at: float
    attempts: int
    failed_at: float
    last_status: int | None
    last_error: str


@dataclass(frozen=True, slots=True)
class StoreStats:
    backlog: int
    in_flight: int
    oldest_created_at: float | None
    dead_letters: int


class OutboxStore:
    def __init__(self, path: Path, *, max_backlog: int, busy_timeout_ms: int = 2000,
                 max_file_bytes: int = 0) -> None:
        self.path = path
        self.max_backlog = max_backlog
        self.busy_timeout_ms = busy_timeout_ms
        self.max_file_bytes = max_file_bytes
        self.last_error: str | None = None
        # Why the last write failed for want of space, until a write succeeds again: a full
        # disk still lets a transaction begin, so only a failed write can tell.
        self._full: str | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox-store")
        self._db: sqlite3.Connection | None = None
        self._closed = False
        # Rows in ``deliveries``, kept by the store thread so an insert need not count them.
        self._backlog = 0

    # -- lifecycle --------------------------------------------------------------------

    async def open(self, *, create: bool = True) -> None:
        """Open (and with ``create``, make) the file and its tables."""
        await self._run(self._open, create)

    async def close(self) -> None:
        """Close the file and stop the thread (again: nothing)."""
        if self._closed:
            return
        self._closed = True
        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._close)
        finally:
            self._executor.shutdown(wait=True)

    # -- the queue --------------------------------------------------------------------

    async def add(self, groups: Sequence[Sequence[NewDelivery]], now: float) -> list[bool]:
        """Insert groups of deliveries (each group one event's, all or none) in one
        transaction, durable when this returns. A group that would take the backlog past
        ``max_backlog`` is refused (False). A delivery already waiting for the same route
        and event id is not added twice."""
        return await self._run(self._add, groups, now)

    async def release(self) -> int:
        """Make rows left in flight by a previous run due again (at start)."""
        return await self._run(self._write, "UPDATE deliveries SET in_flight = 0 "
                                            "WHERE in_flight = 1")

    async def claim(self, limit: int, now: float) -> list[Delivery]:
        """Up to ``limit`` due rows, oldest due first, marked in flight."""
        return await self._run(self._claim, limit, now)

    async def done(self, delivery_id: int) -> None:
        await self._run(self._done, delivery_id)

    async def retry(self, delivery_id: int, attempts: int, next_at: float, error: str) -> None:
        await self._run(self._write, "UPDATE deliveries SET in_flight = 0, attempts = ?, "
                                     "next_at = ?, last_error = ? WHERE id = ?",
                        (attempts, next_at, error, delivery_id))

    async def dead(self, delivery_id: int, attempts: int, status: int | None, error: str,
                   now: float) -> None:
        """Move a delivery to the dead letters."""
        await self._run(self._dead, delivery_id, attempts, status, error, now)

    async def next_due(self) -> float | None:
        """When the earliest waiting row is due (None: nothing waits)."""
        return await self._run(self._next_due)

    async def stats(self) -> StoreStats:
        return await self._run(self._stats)

    async def dead_letters(self, limit: int) -> list[DeadLetter]:
        """The newest dead letters first."""
        return await self._run(self._dead_letters, limit)

    async def replay(self, dead_letter_id: int, now: float) -> int:
        """Queue a dead letter again (attempts from zero, due now); returns the new
        delivery's id. NotFound when there is no such dead letter."""
        return await self._run(self._replay, dead_letter_id, now)

    async def check(self) -> None:
        """Raise OutboxUnavailable unless a write could start now (a readiness probe)."""
        await self._run(self._check)

    # -- on the store thread ----------------------------------------------------------

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._closed:
            raise OutboxUnavailable(f"outbox store {self.path}: closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor,
                                          functools.partial(self._guarded, fn, *args))

    def _guarded(self, fn: Callable[..., T], *args: Any) -> T:
        try:
            return fn(*args)
        except BaseException as exc:
            if self._db is not None and self._db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                self.last_error = _describe(self.path, exc)
                if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
                    self._full = self.last_error
                raise OutboxUnavailable(self.last_error) from exc
            raise

    @property
    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise OutboxUnavailable(f"outbox store {self.path}: not open")
        return self._db

    def _open(self, create: bool) -> None:
        if not create and not self.path.exists():
            raise OutboxUnavailable(f"outbox store {self.path}: no such file")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit mode: transactions are begun explicitly (BEGIN IMMEDIATE, so a writer
        # waits for the lock up front instead of failing half-way through).
        db = sqlite3.connect(self.path, timeout=self.busy_timeout_ms / 1000,
                             isolation_level=None)
        try:
            db.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
            mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise sqlite3.OperationalError(f"cannot use WAL mode (journal_mode {mode})")
            db.execute("PRAGMA synchronous = FULL")
            if self.max_file_bytes:
                page_size = db.execute("PRAGMA page_size").fetchone()[0]
                db.execute(f"PRAGMA max_page_count = {max(1, self.max_file_bytes // page_size)}")
            if create:
                db.executescript(_SCHEMA)
            self._backlog = db.execute("SELECT count(*) FROM deliveries").fetchone()[0]
        except BaseException:
            db.close()
            raise
        self._db = db
        self.last_error = None

    def _close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def _write(self, sql: str, params: Sequence[Any] = ()) -> int:
        db = self._conn
        db.execute("BEGIN IMMEDIATE")
        count = db.execute(sql, params).rowcount
        db.execute("COMMIT")
        self.last_error = self._full = None
        return count

    def _add(self, groups: Sequence[Sequence[NewDelivery]], now: float) -> list[bool]:
        db = self._conn
        db.execute("BEGIN IMMEDIATE")
        # Another process (the CLI's replay) may have added rows since the last count.
        backlog = db.execute("SELECT count(*) FROM deliveries").fetchone()[0] \
            if self._backlog + sum(map(len, groups)) > self.max_backlog else self._backlog
        accepted = []
        for group in groups:
            if backlog + len(group) > self.max_backlog:
                accepted.append(False)
                continue
            for row in group:
                backlog += db.execute(
                    "INSERT OR IGNORE INTO deliveries (route, event_id, body, created_at, "
                    "next_at) VALUES (?, ?, ?, ?, ?)",
                    (row.route, row.event_id, row.body, now, now)).rowcount
            accepted.append(True)
        db.execute("COMMIT")
        self._backlog = backlog
        self.last_error = self._full = None
        return accepted

    def _claim(self, limit: int, now: float) -> list[Delivery]:
        db = self._conn
        db.execute("BEGIN IMMEDIATE")
        rows = db.execute(
            "SELECT id, route, event_id, body, created_at, attempts FROM deliveries "
            "WHERE in_flight = 0 AND next_at <= ? ORDER BY next_at, id LIMIT ?",
            (now, limit)).fetchall()
        db.executemany("UPDATE deliveries SET in_flight = 1 WHERE id = ?",
                       [(row[0],) for row in rows])
        db.execute("COMMIT")
        self.last_error = None
        return [Delivery(*row) for row in rows]

    def _done(self, delivery_id: int) -> None:
        self._backlog -= self._write("DELETE FROM deliveries WHERE id = ?", (delivery_id,))

    def _dead(self, delivery_id: int, attempts: int, status: int | None, error: str,
              now: float) -> None:
        db = self._conn
        db.execute("BEGIN IMMEDIATE")
        moved = db.execute(
            "INSERT INTO dead_letters (route, event_id, body, created_at, attempts, "
            "failed_at, last_status, last_error) SELECT route, event_id, body, created_at, "
            "?, ?, ?, ? FROM deliveries WHERE id = ?",
            (attempts, now, status, error, delivery_id)).rowcount
        db.execute("DELETE FROM deliveries WHERE id = ?", (delivery_id,))
        db.execute("COMMIT")
        self._backlog -= moved
        self.last_error = None

    def _next_due(self) -> float | None:
        value = self._conn.execute("SELECT min(next_at) FROM deliveries "
                                   "WHERE in_flight = 0").fetchone()[0]
        return None if value is None else float(value)

    def _stats(self) -> StoreStats:
        db = self._conn
        backlog, in_flight, oldest = db.execute(
            "SELECT count(*), coalesce(sum(in_flight), 0), min(created_at) "
            "FROM deliveries").fetchone()
        dead = db.execute("SELECT count(*) FROM dead_letters").fetchone()[0]
        self._backlog = backlog
        return StoreStats(backlog, in_flight, oldest, dead)

    def _dead_letters(self, limit: int) -> list[DeadLetter]:
        rows = self._conn.execute(
            "SELECT id, route, event_id, body, created_at, attempts, failed_at, last_status, "
            "last_error FROM dead_letters ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        return [DeadLetter(*row) for row in rows]

    def _replay(self, dead_letter_id: int, now: float) -> int:
        db = self._conn
        db.execute("BEGIN IMMEDIATE")
        row = db.execute("SELECT route, event_id, body FROM dead_letters WHERE id = ?",
                         (dead_letter_id,)).fetchone()
        if row is None:
            raise NotFound(f"no dead letter {dead_letter_id}")
        route, event_id, body = row
        # A replay is a fresh budget: its age counts from now, so max_age_s does not send
        # an old event straight back to the dead letters.
        db.execute("DELETE FROM deliveries WHERE route = ? AND event_id = ? AND in_flight = 0",
                   (route, event_id))
        cursor = db.execute(
            "INSERT OR IGNORE INTO deliveries (route, event_id, body, created_at, next_at) "
            "VALUES (?, ?, ?, ?, ?)", (route, event_id, body, now, now))
        new_id: int = cursor.lastrowid if cursor.rowcount and cursor.lastrowid else \
            db.execute("SELECT id FROM deliveries WHERE route = ? AND event_id = ?",
                       (route, event_id)).fetchone()[0]
        db.execute("DELETE FROM dead_letters WHERE id = ?", (dead_letter_id,))
        db.execute("COMMIT")
        self._backlog = db.execute("SELECT count(*) FROM deliveries").fetchone()[0]
        return new_id

    def _check(self) -> None:
        db = self._conn
        db.execute("BEGIN IMMEDIATE")
        db.execute("ROLLBACK")
        if self._full is not None:
            raise OutboxUnavailable(self._full)
        self.last_error = None


def _describe(path: Path, exc: sqlite3.Error) -> str:
    text = str(exc)
    hint = ""
    if "locked" in text or "busy" in text:
        hint = " (another process holds a write lock on it)"
    elif "full" in text:
        hint = " (the disk or the file's size limit is full)"
    elif "readonly" in text or "unable to open" in text:
        hint = " (check the file's and directory's permissions)"
    return f"outbox store {path}: {text}{hint}"
