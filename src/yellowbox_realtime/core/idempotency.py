"""Idempotency keys: who chose each, and a table of what each was first used for.

A key belongs to its owner (an API key, a user, a webhook source, the gateway itself), so
two callers who happen to pick the same key never meet, and the table is fair between
owners: one that uses more than its share of keys loses its own oldest, never another's.
Only when more owners than ``max_keys / max_per_owner`` are all at their share does the
oldest key of all go first.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["GATEWAY", "IdempotencyKey", "IdempotencyTable"]

# The owner of the keys the gateway makes for its own publishes (alert reactions, ...).
GATEWAY = "gateway"

WINDOW_S = 24 * 3600.0
MAX_KEYS = 100_000
MAX_PER_OWNER = 10_000

V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class IdempotencyKey:
    owner: str
    key: str

    def __str__(self) -> str:
        # The owner's length first: no owner and key can spell another pair's string.
        return f"{len(self.owner)}:{self.owner}:{self.key}"


class IdempotencyTable(Generic[V]):
    """A value per key, kept ``window_s`` after it was put; bounded in all and per owner."""

    def __init__(self, *, window_s: float = WINDOW_S, max_keys: int = MAX_KEYS,
                 max_per_owner: int = MAX_PER_OWNER,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.window_s = window_s
        self.max_keys = max_keys
        self.max_per_owner = max_per_owner
        self._clock = clock
        self._entries: OrderedDict[IdempotencyKey, tuple[float, V]] = OrderedDict()
        self._owners: dict[str, OrderedDict[IdempotencyKey, None]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def held_by(self, owner: str) -> int:
        owned = self._owners.get(owner)
        return len(owned) if owned is not None else 0

    def get(self, key: IdempotencyKey) -> V | None:
        """What ``key`` was put with, if that was within the window."""
        entry = self._entries.get(key)
        if entry is None or self._clock() - entry[0] > self.window_s:
            return None
        return entry[1]

    def put(self, key: IdempotencyKey, value: V) -> None:
        self._expire()
        if key in self._entries:
            self._drop(key)  # expired: it starts again as the newest
        self._entries[key] = (self._clock(), value)
        owned = self._owners.get(key.owner)
        if owned is None:
            owned = self._owners[key.owner] = OrderedDict()
        owned[key] = None
        if len(owned) > self.max_per_owner:
            self._drop(next(iter(owned)))
        if len(self._entries) > self.max_keys:
            self._drop(next(iter(self._entries)))

    def _expire(self) -> None:
        # Here rather than on a timer: the keys put since the last put cost little, and
        # the table stays within its bounds whenever it is used.
        now = self._clock()
        entries = self._entries
        while entries:
            key, (at, _) = next(iter(entries.items()))
            if now - at <= self.window_s:
                break
            self._drop(key)

    def _drop(self, key: IdempotencyKey) -> None:
        del self._entries[key]
        owned = self._owners[key.owner]
        del owned[key]
        if not owned:
            del self._owners[key.owner]
