"""Sockets that left without meaning to, kept for a while so they can come back whole.

When a Socket.IO connection drops (network blip, ping timeout, a node restarting), the
socket's identity and rooms are kept under its private id (``pid``) for ``window_s``. A
client that reconnects within the window with that ``pid`` and the offset of the last event
it saw gets the same socket id and rooms back, and the events it missed (see
:class:`~.history.History`). Each record is taken once: a second reconnect with the same
``pid`` starts fresh.

Bounded: at most ``max_sessions`` records; past that the oldest go first. One user keeps at
most ``max_per_user`` of them: beyond that user's new records are not kept, so a user
leaving in a loop cannot push the oldest out, which are everyone else's. Pure: time is
passed in.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["Departed", "RecoveryRecords", "RecoveryStore"]


@dataclass(frozen=True, slots=True)
class Departed:
    """What a socket that left had: enough to restore it."""

    sid: str
    uid: str | None
    nsp: str
    rooms: tuple[str, ...]
    data: dict[str, Any] | None
    # The stream position when the socket joined, for a client that never saw an event
    # (socket.io-client then has no offset to send).
    epoch: str
    joined_at: int
    left_at: float


class RecoveryRecords(Protocol):
    """Where departed sockets wait: this process (:class:`RecoveryStore`) or, in a
    cluster, somewhere every node reads (a socket may come back to another node)."""

    def keep(self, pid: str, departed: Departed) -> None:
        """Keep the record for the recovery window; must not block."""

    async def claim(self, pid: str, now: float) -> Departed | None:
        """The record for ``pid`` if still kept; it is removed (used once)."""

    def track(self, pid: str, snapshot: Callable[[], Departed]) -> None:
        """A socket is connected: where records outlive this process (a cluster), keep its
        record while it lives, from ``snapshot``, so a client whose node dies without
        closing it (SIGKILL) can recover on another. Must not block."""

    def untrack(self, pid: str, *, forget: bool) -> None:
        """The socket closed: stop tracking it; with ``forget`` (it meant to leave) its
        record goes too. Must not block."""


class RecoveryStore:
    def __init__(self, window_s: float, max_sessions: int, max_per_user: int = 0) -> None:
        self.window_s = window_s
        self.max_sessions = max_sessions
        # 0: no share per user.
        self.max_per_user = max_per_user
        self._departed: OrderedDict[str, Departed] = OrderedDict()
        # Records by user id, for the share; users with none are not kept.
        self._held: dict[str | None, int] = {}

    def keep(self, pid: str, departed: Departed) -> None:
        self.expire(departed.left_at)
        held = self._held.get(departed.uid, 0)
        if self.max_per_user and departed.uid is not None and held >= self.max_per_user \
                and pid not in self._departed:
            return  # its own share is full: this one starts afresh if it comes back
        previous = self._departed.pop(pid, None)
        if previous is not None:
            self._release(previous)
        self._departed[pid] = departed
        self._held[departed.uid] = self._held.get(departed.uid, 0) + 1
        while len(self._departed) > self.max_sessions:
            self._release(self._departed.popitem(last=False)[1])

    def take(self, pid: str, now: float) -> Departed | None:
        """The record for ``pid`` if it is still within the window; it is removed."""
        self.expire(now)
        found = self._departed.pop(pid, None)
        if found is not None:
            self._release(found)
        return found

    def held_by(self, uid: str | None) -> int:
        return self._held.get(uid, 0)

    def _release(self, departed: Departed) -> None:
        left = self._held.get(departed.uid, 0) - 1
        if left > 0:
            self._held[departed.uid] = left
        else:
            self._held.pop(departed.uid, None)

    async def claim(self, pid: str, now: float) -> Departed | None:
        return self.take(pid, now)

    def track(self, pid: str, snapshot: Callable[[], Departed]) -> None:
        """Nothing to do: this process's records die with it anyway."""

    def untrack(self, pid: str, *, forget: bool) -> None:
        """Nothing to do: records are made only as sockets leave."""

    def expire(self, now: float) -> None:
        departed = self._departed
        while departed:
            oldest = next(iter(departed.values()))
            if now - oldest.left_at <= self.window_s:
                return
            self._release(departed.popitem(last=False)[1])

    def __len__(self) -> int:
        return len(self._departed)
