"""Channel history: gap-free offsets, trimming by size and age, epochs, channels without
history, limits per channel pattern, and the promise that a gap is never silent."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from yellowbox_realtime.core.history import (
    ChannelHistory,
    History,
    HistoryLimits,
    Position,
    new_epoch,
)
from yellowbox_realtime.protocol.sse import StreamPosition

E = "ep1"


def filled(limits: HistoryLimits | None, count: int, *, every_s: float = 0.0) -> ChannelHistory:
    history = ChannelHistory(limits, E)
    for i in range(count):
        history.append("update", {"n": i + 1}, now=i * every_s)
    return history


def offsets_since(history: ChannelHistory, offset: int, now: float,
                  epoch: str = E) -> tuple[list[int], bool]:
    recovery = history.since(Position(epoch, offset), now)
    assert recovery.position == history.position()
    return [entry.offset for entry in recovery.entries], recovery.complete


def test_offsets_start_at_one_and_have_no_gaps() -> None:
    history = ChannelHistory(HistoryLimits(100, 60.0), E)
    assert history.position() == Position(E, 0)
    entries = [history.append("e", i, now=float(i)) for i in range(5)]
    assert [e.offset for e in entries] == [1, 2, 3, 4, 5]
    assert (entries[2].event, entries[2].data, entries[2].published_at) == ("e", 2, 2.0)
    assert history.last_offset == 5
    assert history.position() == Position(E, 5)
    assert offsets_since(history, 0, 5.0) == ([1, 2, 3, 4, 5], True)
    assert offsets_since(history, 3, 5.0) == ([4, 5], True)
    assert offsets_since(history, 5, 5.0) == ([], True)


def test_fresh_channel_is_complete_from_zero() -> None:
    assert offsets_since(ChannelHistory(HistoryLimits(1, 1.0), E), 0, 0.0) == ([], True)


def test_trimming_by_size_is_a_gap_only_when_a_needed_entry_is_gone() -> None:
    history = filled(HistoryLimits(3, 60.0), 5)
    assert len(history) == 3  # 3, 4, 5 retained
    assert offsets_since(history, 2, 0.0) == ([3, 4, 5], True)  # exactly oldest - 1
    assert offsets_since(history, 1, 0.0) == ([3, 4, 5], False)  # 2 is gone
    assert offsets_since(history, 0, 0.0) == ([3, 4, 5], False)
    assert offsets_since(history, 4, 0.0) == ([5], True)


def test_memory_is_bounded_by_max_entries() -> None:
    history = filled(HistoryLimits(100, math.inf), 10_000)
    assert len(history) == 100
    assert history.last_offset == 10_000


def test_trimming_by_age() -> None:
    history = filled(HistoryLimits(100, 10.0), 3, every_s=5.0)  # at t = 0, 5, 10
    # At t=10 entry 1 is exactly ttl old: kept (only older than ttl_s expires).
    assert offsets_since(history, 0, 10.0) == ([1, 2, 3], True)
    assert offsets_since(history, 1, 12.0) == ([2, 3], True)  # exactly oldest - 1
    assert offsets_since(history, 0, 12.0) == ([2, 3], False)  # 1 expired
    assert len(history) == 2


def test_everything_expired() -> None:
    history = filled(HistoryLimits(100, 1.0), 3)
    history.expire(5.0)
    assert len(history) == 0
    assert offsets_since(history, 3, 5.0) == ([], True)  # the client missed nothing
    assert offsets_since(history, 2, 5.0) == ([], False)
    assert history.append("e", None, now=6.0).offset == 4  # numbering goes on


def test_append_expires_old_entries() -> None:
    history = filled(HistoryLimits(100, 1.0), 50)
    history.append("e", None, now=100.0)
    assert len(history) == 1


def test_another_epoch_is_a_gap_and_gets_everything_retained() -> None:
    history = filled(HistoryLimits(3, 60.0), 5)
    assert offsets_since(history, 5, 0.0, epoch="old") == ([3, 4, 5], False)
    assert offsets_since(history, 0, 0.0, epoch="old") == ([3, 4, 5], False)


@pytest.mark.parametrize("offset", [6, 1000, -1])
def test_position_this_epoch_never_gave_out_is_a_gap(offset: int) -> None:
    history = filled(HistoryLimits(3, 60.0), 5)
    assert offsets_since(history, offset, 0.0) == ([3, 4, 5], False)


def test_channel_without_history_counts_offsets_and_keeps_nothing() -> None:
    history = filled(None, 3)
    assert history.last_offset == 3
    assert len(history) == 0
    assert offsets_since(history, 3, 0.0) == ([], True)
    assert offsets_since(history, 2, 0.0) == ([], False)


@pytest.mark.parametrize(("max_entries", "ttl_s"), [
    (0, 1.0), (-1, 1.0), (True, 1.0), (1.5, 1.0), (1, 0.0), (1, -1.0), (1, math.nan),
])
def test_limits_must_be_positive(max_entries: int, ttl_s: float) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - either field, each with its message
        HistoryLimits(max_entries, ttl_s)


def test_infinite_ttl_is_allowed() -> None:
    assert HistoryLimits(1, math.inf).ttl_s == math.inf


def test_epochs_fit_sse_event_ids() -> None:
    epochs = {new_epoch() for _ in range(100)}
    assert len(epochs) == 100
    for epoch in epochs:
        StreamPosition(epoch, 0)  # raises if the id format could not carry it


# --- History: many channels -------------------------------------------------------------

SMALL, USERS, VIP, DEFAULT = (HistoryLimits(n, 60.0) for n in (1, 2, 3, 4))


def make_history() -> History:
    counter = itertools.count(1)
    return History(DEFAULT, {"rider_locations": None, "user:": USERS, "user:vip:": VIP,
                             "user:7": SMALL, "role:": None},
                   epoch_factory=lambda: f"e{next(counter)}")


@pytest.mark.parametrize(("channel", "limits"), [
    ("user:7", SMALL),  # exact beats prefix
    ("user:70", USERS),
    ("user:vip:9", VIP),  # longer prefix wins
    ("user:", USERS),
    ("user", DEFAULT),  # not a prefix match: the ':' is part of the pattern
    ("rider_locations", None),
    ("rider_locations:x", DEFAULT),  # an exact name is not a prefix
    ("role:admin", None),
    ("expense_updates", DEFAULT),
])
def test_limits_per_channel_pattern(channel: str, limits: HistoryLimits | None) -> None:
    history = make_history()
    assert history.limits_for(channel) == limits
    assert history.channel(channel).limits == limits


def test_limits_apply_to_each_channel() -> None:
    history = make_history()
    for channel in ("user:1", "rider_locations", "dashboard"):
        for i in range(10):
            history.append(channel, "e", i, now=0.0)
    assert [len(history.channel(c)) for c in ("user:1", "rider_locations", "dashboard")] \
        == [2, 0, 4]
    recovery = history.since("user:1", Position(history.position("user:1").epoch, 8), 0.0)
    assert ([e.data for e in recovery.entries], recovery.complete) == ([8, 9], True)


def test_each_channel_gets_a_stable_epoch_on_first_use() -> None:
    history = make_history()
    assert history.position("a") == Position("e1", 0)
    assert history.append("b", "e", None, now=0.0).offset == 1
    assert history.position("b") == Position("e2", 1)
    assert history.append("a", "e", None, now=0.0).offset == 1
    assert history.position("a") == Position("e1", 1)
    assert history.since("a", Position("e2", 0), now=0.0).complete is False
    assert len(history) == 2


def test_expire_everywhere_keeps_positions_valid() -> None:
    history = History(HistoryLimits(10, 5.0), {}, epoch_factory=lambda: "e")
    for channel in ("a", "b"):
        for _ in range(3):
            history.append(channel, "e", None, now=0.0)
    history.expire(100.0)
    assert [len(history.channel(c)) for c in ("a", "b")] == [0, 0]
    assert len(history) == 2  # the records stay ...
    recovery = history.since("a", Position("e", 3), now=100.0)
    assert (recovery.entries, recovery.complete) == ([], True)  # ... so this is no gap
    assert history.append("a", "e", None, now=100.0).offset == 4


def test_default_epoch_factory() -> None:
    history = History(None, {})
    StreamPosition(history.position("x").epoch, 0)


# --- the promise: never a silent gap ----------------------------------------------------

step = st.sampled_from([0.0, 0.5, 1.0, 2.0]) | st.floats(0, 3)
operation = st.one_of(
    st.tuples(st.just("append"), step),
    st.tuples(st.just("expire"), step),
    # How far behind the newest offset the client is (negative: ahead), and rarely a
    # position from another epoch.
    st.tuples(st.just("since"), step, st.integers(-2, 10), st.integers(0, 9).map(lambda n: n == 0)),
)


@settings(max_examples=300)
@given(max_entries=st.integers(0, 8), ttl_s=st.floats(0.5, 10),
       operations=st.lists(operation, min_size=5, max_size=60))
def test_since_never_hides_a_gap(max_entries: int, ttl_s: float,
                                 operations: list[tuple[object, ...]]) -> None:
    limits = HistoryLimits(max_entries, ttl_s) if max_entries else None  # 0: no history
    history = ChannelHistory(limits, E)
    published: list[float] = []  # model: published[offset - 1] = time
    now = 0.0

    def retained(offset: int) -> bool:
        return (limits is not None and offset > len(published) - limits.max_entries
                and not now - published[offset - 1] > limits.ttl_s)

    for op in operations:
        assert isinstance(op[1], float)
        now += op[1]  # time never goes backwards
        if op[0] == "append":
            published.append(now)
            assert history.append("e", len(published), now).offset == len(published)
        elif op[0] == "expire":
            history.expire(now)
        else:
            behind, other_epoch = op[2], op[3]
            assert isinstance(behind, int)
            last = len(published)
            # Mostly within [-1, last]; far-behind clients wrap instead of piling up below 0.
            offset = last - (behind if behind <= last else behind % (last + 2))
            recovery = history.since(Position("other" if other_epoch else E, offset), now)
            got = [entry.offset for entry in recovery.entries]
            assert recovery.position == Position(E, last)
            assert [e.data for e in recovery.entries] == got  # the right payloads
            if recovery.complete:
                assert got == list(range(offset + 1, last + 1))
            # ... and a gap is reported exactly when something needed is gone.
            everything = [o for o in range(1, last + 1) if retained(o)]
            if other_epoch or not 0 <= offset <= last:
                assert (got, recovery.complete) == (everything, False)
            else:
                needed = range(offset + 1, last + 1)
                assert got == [o for o in needed if retained(o)]
                assert recovery.complete == all(retained(o) for o in needed)
        assert len(history) <= (limits.max_entries if limits else 0)
