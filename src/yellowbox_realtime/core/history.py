"""Per-channel bounded history, so a reconnecting client can get what it missed.

Each channel numbers its events 1, 2, 3 ... without gaps and keeps the newest ones, bounded
by count (``max_entries``) and age (``ttl_s``). A client's place is a :class:`Position`:
the channel's epoch and the offset of the last event it saw. The epoch names one run of the
numbering; a new epoch (a restart of a memory history) makes every older position
meaningless, which is reported rather than guessed at.

The one promise: :meth:`ChannelHistory.since` either returns every event after the
client's position, consecutively, or says ``complete=False`` so the client is told it
missed something. It never leaves a gap silently.

Pure: time is passed in as ``now`` (seconds, from a clock that does not go backwards, such
as ``time.monotonic``) and nothing here reads a clock or does I/O.
"""

from __future__ import annotations

import secrets
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from itertools import islice
from typing import Any

__all__ = [
    "ChannelHistory",
    "Entry",
    "History",
    "HistoryLimits",
    "Position",
    "Recovery",
    "new_epoch",
]


@dataclass(frozen=True, slots=True)
class HistoryLimits:
    """How much of one channel to keep: at most ``max_entries`` events, none older than
    ``ttl_s`` seconds. Both must be positive (``ttl_s`` may be ``math.inf``)."""

    max_entries: int
    ttl_s: float

    def __post_init__(self) -> None:
        if isinstance(self.max_entries, bool) or not isinstance(self.max_entries, int) \
                or self.max_entries <= 0:
            raise ValueError(f"max_entries must be a positive integer, got {self.max_entries!r}")
        # Written so that NaN fails too.
        if isinstance(self.ttl_s, bool) or not self.ttl_s > 0:
            raise ValueError(f"ttl_s must be positive, got {self.ttl_s!r}")


@dataclass(frozen=True, slots=True)
class Entry:
    offset: int
    published_at: float
    event: str
    data: Any


@dataclass(frozen=True, slots=True)
class Position:
    """The offset of the last entry a client saw in this epoch (0: none yet)."""

    epoch: str
    offset: int


@dataclass(frozen=True, slots=True)
class Recovery:
    """The answer to "what did I miss since ``position``?".

    ``entries`` are in offset order. ``complete`` is False when some of what the client
    missed is gone (trimmed, expired, or from another epoch); ``entries`` then holds what
    is still retained after the client's offset (everything retained, for another epoch),
    so the client can catch up as far as possible after being told about the gap.
    ``position`` is the channel's position now, where the client is after applying them.
    """

    entries: list[Entry]
    complete: bool
    position: Position


def new_epoch() -> str:
    """A fresh 8-character epoch of ``[A-Za-z0-9_-]``, safe inside an SSE event id."""
    return secrets.token_urlsafe(6)


class ChannelHistory:
    """One channel's numbering and retained entries.

    Bounds: appending to a full history drops the oldest entry (the deque's ``maxlen``);
    entries older than ``ttl_s`` are dropped at the next :meth:`append`, :meth:`since` or
    :meth:`expire`. Expiry works from the oldest end, so it costs only what it drops; it
    relies on ``now`` not going backwards. With ``limits=None`` nothing is kept, but
    offsets still count, so a client that is up to date is told it is complete and any
    other is told it missed events. An empty history holds no deque at all, only the
    epoch and the counter.
    """

    __slots__ = ("_entries", "_epoch", "_last_offset", "_limits")

    def __init__(self, limits: HistoryLimits | None, epoch: str) -> None:
        self._limits = limits
        self._epoch = epoch
        self._last_offset = 0
        self._entries: deque[Entry] | None = None

    @property
    def epoch(self) -> str:
        return self._epoch

    @property
    def last_offset(self) -> int:
        """The offset of the newest entry ever appended (0 before the first)."""
        return self._last_offset

    @property
    def limits(self) -> HistoryLimits | None:
        return self._limits

    def __len__(self) -> int:
        """How many entries are retained right now (expired ones may still count)."""
        return len(self._entries) if self._entries is not None else 0

    def append(self, event: str, data: Any, now: float) -> Entry:
        self._last_offset += 1
        entry = Entry(self._last_offset, now, event, data)
        if self._limits is not None:
            self.expire(now)
            if self._entries is None:
                self._entries = deque(maxlen=self._limits.max_entries)
            self._entries.append(entry)
        return entry

    def since(self, position: Position, now: float) -> Recovery:
        """The entries after ``position``; see :class:`Recovery`.

        A position from another epoch or beyond ``last_offset`` (which this epoch never
        gave out) is treated alike: nothing about it can be trusted, so the answer is
        incomplete and carries every retained entry.
        """
        self.expire(now)
        entries = self._entries or ()
        oldest = entries[0].offset if entries else self._last_offset + 1
        current = Position(self._epoch, self._last_offset)
        if position.epoch != self._epoch or not 0 <= position.offset <= self._last_offset:
            return Recovery(list(entries), False, current)
        # Retained offsets are consecutive and end at last_offset, so the newest
        # `wanted` entries are exactly the ones after the client's offset.
        wanted = min(self._last_offset - position.offset, len(entries))
        missed = list(islice(reversed(entries), wanted))
        missed.reverse()
        return Recovery(missed, oldest <= position.offset + 1, current)

    def position(self) -> Position:
        return Position(self._epoch, self._last_offset)

    def expire(self, now: float) -> None:
        """Drop entries older than ``ttl_s`` at ``now``; release the deque once empty."""
        entries = self._entries
        if entries is None or self._limits is None:
            return
        ttl = self._limits.ttl_s
        while entries and now - entries[0].published_at > ttl:
            entries.popleft()
        if not entries:
            self._entries = None


class History:
    """The history of every channel, with limits chosen per channel name.

    ``per_channel`` maps patterns to limits: an exact channel name, or a prefix ending in
    ``:`` (``"user:"`` covers ``user:42``). An exact name wins over a prefix and a longer
    prefix over a shorter one; channels matching nothing get ``default``. ``None`` limits
    mean "keep nothing, only count offsets".

    Each channel gets its own epoch from ``epoch_factory`` when it is first used. Bound:
    retained entries are bounded per channel by its limits; besides them, every channel
    name ever used keeps a small record (name, epoch, counter) for the life of this
    object, because forgetting it would hand out a new epoch and report gaps to clients
    that missed nothing. The set of channel names is the application's to bound.
    """

    def __init__(self, default: HistoryLimits | None,
                 per_channel: Mapping[str, HistoryLimits | None],
                 epoch_factory: Callable[[], str] = new_epoch) -> None:
        self._default = default
        self._exact = {k: v for k, v in per_channel.items() if not k.endswith(":")}
        # Longest first, so the most specific prefix is found first.
        self._prefixes = sorted(((k, v) for k, v in per_channel.items() if k.endswith(":")),
                                key=lambda item: len(item[0]), reverse=True)
        self._epoch_factory = epoch_factory
        self._channels: dict[str, ChannelHistory] = {}

    def limits_for(self, channel: str) -> HistoryLimits | None:
        if channel in self._exact:
            return self._exact[channel]
        for prefix, limits in self._prefixes:
            if channel.startswith(prefix):
                return limits
        return self._default

    def channel(self, name: str) -> ChannelHistory:
        """The channel's history, created (with a new epoch) on first use."""
        history = self._channels.get(name)
        if history is None:
            history = self._channels[name] = ChannelHistory(self.limits_for(name),
                                                            self._epoch_factory())
        return history

    def append(self, channel: str, event: str, data: Any, now: float) -> Entry:
        return self.channel(channel).append(event, data, now)

    def since(self, channel: str, position: Position, now: float) -> Recovery:
        return self.channel(channel).since(position, now)

    def position(self, channel: str) -> Position:
        return self.channel(channel).position()

    def expire(self, now: float) -> None:
        """Drop expired entries in every channel (call it now and then, e.g. once a
        second, so quiet channels release memory too). Channel records stay."""
        for history in self._channels.values():
            history.expire(now)

    def __len__(self) -> int:
        """The number of channel records held."""
        return len(self._channels)
