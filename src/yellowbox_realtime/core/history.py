"""Bounded history of published events, so a reconnecting client can get what it missed.

Every publish gets the next offset of one stream (1, 2, 3 ... without gaps) and is kept in
the history of each channel it went to, bounded per channel by count (``max_entries``) and
age (``ttl_s``). A client's place is one :class:`~..protocol.sse.StreamPosition`: the epoch
of the stream and the offset of the last event it saw. One position covers any set of
channels, which is what an SSE stream of several channels or a Socket.IO socket in several
rooms needs: a per-channel offset could not say where such a client is in the others.

The epoch names one run of the numbering; a new epoch (a restart of a memory history) makes
every older position meaningless, which is reported rather than guessed at.

The one promise: :meth:`History.since` either returns every event after the client's
position in the channels asked for, in order, or says ``complete=False`` so the client is
told it missed something. It never leaves a gap silently. For that each channel remembers
the newest offset it let go of (trimmed, expired, or never kept): a client behind it has
lost something.

Pure: time is passed in as ``now`` (seconds, from a clock that does not go backwards, such
as ``time.monotonic``) and nothing here reads a clock or does I/O.
"""

from __future__ import annotations

import heapq
import secrets
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from ..messages import StreamPosition

__all__ = ["History", "HistoryLimits", "Recovery", "Timed", "new_epoch"]


class Timed(Protocol):
    """What a history keeps: anything that knows its offset and when it was published."""

    @property
    def offset(self) -> int: ...

    @property
    def published_at(self) -> float: ...


T = TypeVar("T", bound=Timed)


@dataclass(frozen=True, slots=True)
class HistoryLimits:
    """How much of one channel to keep: at most ``max_entries`` events, none older than
    ``ttl_s`` seconds. ``max_entries`` 0 keeps nothing (offsets still count)."""

    max_entries: int
    ttl_s: float

    def __post_init__(self) -> None:
        if isinstance(self.max_entries, bool) or not isinstance(self.max_entries, int) \
                or self.max_entries < 0:
            raise ValueError(f"max_entries must be 0 or more, got {self.max_entries!r}")
        # Written so that NaN fails too.
        if isinstance(self.ttl_s, bool) or not self.ttl_s > 0:
            raise ValueError(f"ttl_s must be positive, got {self.ttl_s!r}")


@dataclass(frozen=True, slots=True)
class Recovery(Generic[T]):
    """The answer to "what did I miss since ``position``?".

    ``entries`` are in offset order, each once. ``complete`` is False when some of what the
    client missed is gone (trimmed, expired, or from another epoch); ``entries`` then holds
    what is still retained after the client's offset (everything retained, for another
    epoch), so the client can catch up as far as possible after being told about the gap.
    ``position`` is the stream's position now, where the client is after applying them.
    """

    entries: list[T]
    complete: bool
    position: StreamPosition


def new_epoch() -> str:
    """A fresh 8-character epoch of ``[A-Za-z0-9_-]``, safe inside an SSE event id."""
    return secrets.token_urlsafe(6)


class _Channel(Generic[T]):
    """One channel's retained entries and the newest offset it no longer has."""

    __slots__ = ("entries", "let_go", "limits")

    def __init__(self, limits: HistoryLimits) -> None:
        self.limits = limits
        self.entries: deque[T] | None = None  # made on the first entry it keeps
        self.let_go = 0

    def append(self, entry: T, now: float) -> None:
        self.expire(now)
        if self.limits.max_entries == 0:
            self.let_go = entry.offset
            return
        if self.entries is None:
            self.entries = deque(maxlen=self.limits.max_entries)
        elif len(self.entries) == self.limits.max_entries:
            self.let_go = self.entries[0].offset
        self.entries.append(entry)

    def expire(self, now: float) -> None:
        """Drop entries older than the TTL; works from the oldest end, so it costs only what
        it drops (``now`` must not go backwards)."""
        entries = self.entries
        if entries is None:
            return
        ttl = self.limits.ttl_s
        while entries and now - entries[0].published_at > ttl:
            self.let_go = entries.popleft().offset
        if not entries:
            self.entries = None

    def after(self, offset: int) -> list[T]:
        """Retained entries after ``offset``, oldest first."""
        entries = self.entries
        if not entries or entries[-1].offset <= offset:
            return []
        if entries[0].offset > offset:
            return list(entries)
        # Entries are in offset order; walk back from the newest end.
        missed: list[T] = []
        for entry in reversed(entries):
            if entry.offset <= offset:
                break
            missed.append(entry)
        missed.reverse()
        return missed


class History(Generic[T]):
    """The history of every channel, with limits chosen per channel name.

    ``per_channel`` maps patterns to limits: an exact channel name, or a prefix ending in
    ``:`` (``"user:"`` covers ``user:42``). An exact name wins over a prefix and a longer
    prefix over a shorter one; channels matching nothing get ``default``.

    Bound: retained entries are bounded per channel by its limits; besides them, every
    channel published to keeps a small record (its limits and the newest offset it let go
    of) for the life of this object, because forgetting it would hide a gap. The set of
    channel names is the application's to bound.
    """

    def __init__(self, default: HistoryLimits,
                 per_channel: Mapping[str, HistoryLimits] | None = None,
                 epoch: str | None = None) -> None:
        per_channel = per_channel or {}
        self._default = default
        self._exact = {k: v for k, v in per_channel.items() if not k.endswith(":")}
        # Longest first, so the most specific prefix is found first.
        self._prefixes = sorted(((k, v) for k, v in per_channel.items() if k.endswith(":")),
                                key=lambda item: len(item[0]), reverse=True)
        self.epoch = epoch or new_epoch()
        self.last_offset = 0
        self._channels: dict[str, _Channel[T]] = {}

    def limits_for(self, channel: str) -> HistoryLimits:
        if channel in self._exact:
            return self._exact[channel]
        for prefix, limits in self._prefixes:
            if channel.startswith(prefix):
                return limits
        return self._default

    def next_offset(self) -> int:
        """Take the next offset of the stream (the caller builds its entry with it)."""
        self.last_offset += 1
        return self.last_offset

    def append(self, channels: Iterable[str], entry: T, now: float) -> None:
        """Keep ``entry`` (numbered by :meth:`next_offset`) in each channel's history."""
        for name in channels:
            channel = self._channels.get(name)
            if channel is None:
                channel = self._channels[name] = _Channel(self.limits_for(name))
            channel.append(entry, now)

    def position(self) -> StreamPosition:
        return StreamPosition(self.epoch, self.last_offset)

    def since(self, channels: Sequence[str], position: StreamPosition,
              now: float) -> Recovery[T]:
        """What ``channels`` published after ``position``; see :class:`Recovery`.

        A position from another epoch or beyond ``last_offset`` (which this epoch never
        gave out) is treated alike: nothing about it can be trusted, so the answer is
        incomplete and carries every retained entry.
        """
        current = self.position()
        trusted = position.epoch == self.epoch and position.offset <= self.last_offset
        offset = position.offset if trusted else 0
        complete = trusted
        runs: list[list[T]] = []
        for name in dict.fromkeys(channels):  # each channel once, in the order given
            channel = self._channels.get(name)
            if channel is None:
                continue  # never published to: nothing to miss
            channel.expire(now)
            if channel.let_go > offset:
                complete = False
            run = channel.after(offset)
            if run:
                runs.append(run)
        if len(runs) == 1:
            return Recovery(runs[0], complete, current)
        # An event sent to several of the channels is one entry: keep it once.
        entries: list[T] = []
        for entry in heapq.merge(*runs, key=lambda e: e.offset):
            if not entries or entries[-1].offset != entry.offset:
                entries.append(entry)
        return Recovery(entries, complete, current)

    def expire(self, now: float) -> None:
        """Drop expired entries in every channel (call it now and then, e.g. once a
        second, so quiet channels release memory too). Channel records stay."""
        for channel in self._channels.values():
            channel.expire(now)

    def retained(self) -> int:
        """The number of entries kept, over every channel (for metrics; walks the channels)."""
        return sum(len(c.entries) for c in self._channels.values() if c.entries)

    def __len__(self) -> int:
        """The number of channel records held."""
        return len(self._channels)
