"""History: one gap-free stream of offsets, retention per channel by size and age, epochs,
channels that keep nothing, limits per channel pattern, and the promise that a gap is never
silent, for one channel and for several."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from yellowbox_realtime.core.history import History, HistoryLimits, new_epoch
from yellowbox_realtime.messages import StreamPosition

E = "ep1"
KEEP = HistoryLimits(100, 60.0)


@dataclass(frozen=True)
class Event:
    offset: int
    published_at: float


def publish(history: History[Event], channels: list[str], now: float = 0.0) -> int:
    event = Event(history.next_offset(), now)
    history.append(channels, event, now)
    return event.offset


def since(history: History[Event], channels: list[str], offset: int, now: float = 0.0,
          epoch: str = E) -> tuple[list[int], bool]:
    recovery = history.since(channels, StreamPosition(epoch, offset), now)
    assert recovery.position == history.position()
    return [e.offset for e in recovery.entries], recovery.complete


def test_offsets_are_one_stream_without_gaps_across_channels() -> None:
    history: History[Event] = History(KEEP, epoch=E)
    assert history.position() == StreamPosition(E, 0)
    assert [publish(history, [c]) for c in ("a", "b", "a", "c")] == [1, 2, 3, 4]
    assert history.position() == StreamPosition(E, 4)
    assert since(history, ["a"], 0) == ([1, 3], True)
    assert since(history, ["a", "b"], 1) == ([2, 3], True)
    assert since(history, ["a", "b", "c"], 4) == ([], True)


def test_an_event_to_several_channels_is_replayed_once() -> None:
    history: History[Event] = History(KEEP, epoch=E)
    publish(history, ["a", "b"])
    publish(history, ["b"])
    publish(history, ["a", "b"])
    assert since(history, ["a", "b", "a"], 0) == ([1, 2, 3], True)


def test_a_channel_never_published_to_misses_nothing() -> None:
    history: History[Event] = History(HistoryLimits(1, 1.0), epoch=E)
    publish(history, ["other"])
    assert since(history, ["quiet"], 0) == ([], True)


def test_trimming_by_size_is_a_gap_only_when_a_needed_entry_is_gone() -> None:
    history: History[Event] = History(HistoryLimits(3, 60.0), epoch=E)
    for _ in range(5):
        publish(history, ["a"])
    assert since(history, ["a"], 2) == ([3, 4, 5], True)  # exactly the oldest kept - 1
    assert since(history, ["a"], 1) == ([3, 4, 5], False)  # 2 is gone
    assert since(history, ["a"], 0) == ([3, 4, 5], False)


def test_a_gap_in_one_channel_makes_a_multi_channel_answer_incomplete() -> None:
    history: History[Event] = History(KEEP, {"small": HistoryLimits(1, 60.0)}, epoch=E)
    publish(history, ["big"])
    publish(history, ["small"])
    publish(history, ["small"])
    publish(history, ["big"])
    assert since(history, ["big", "small"], 1) == ([3, 4], False)  # 2 was trimmed
    assert since(history, ["big", "small"], 2) == ([3, 4], True)


def test_entries_expire_by_age_and_expiry_is_a_gap() -> None:
    history: History[Event] = History(HistoryLimits(100, 10.0), epoch=E)
    for second in range(5):
        publish(history, ["a"], now=float(second))
    assert since(history, ["a"], 0, now=10.0) == ([1, 2, 3, 4, 5], True)
    assert since(history, ["a"], 0, now=11.5) == ([3, 4, 5], False)  # 1 and 2 expired
    assert since(history, ["a"], 2, now=11.5) == ([3, 4, 5], True)
    history.expire(100.0)
    assert since(history, ["a"], 5, now=100.0) == ([], True)  # nothing after 5 was lost
    assert since(history, ["a"], 4, now=100.0) == ([], False)


def test_a_channel_that_keeps_nothing_still_reports_what_was_missed() -> None:
    history: History[Event] = History(KEEP, {"live": HistoryLimits(0, 1.0)}, epoch=E)
    publish(history, ["live"])
    assert since(history, ["live"], 1) == ([], True)  # up to date
    assert since(history, ["live"], 0) == ([], False)


def test_another_epoch_or_an_offset_never_given_out_is_incomplete() -> None:
    history: History[Event] = History(KEEP, epoch=E)
    publish(history, ["a"])
    publish(history, ["a"])
    assert since(history, ["a"], 1, epoch="old") == ([1, 2], False)
    assert since(history, ["a"], 3) == ([1, 2], False)
    assert since(history, ["a"], 2) == ([], True)


@pytest.mark.parametrize(("channel", "expected"), [
    ("rider_locations", HistoryLimits(0, 1.0)),
    ("user:7", HistoryLimits(2, 5.0)),
    ("user:vip:7", HistoryLimits(9, 50.0)),
    ("role:admin", KEEP),
])
def test_limits_by_exact_name_then_longest_prefix(channel: str,
                                                  expected: HistoryLimits) -> None:
    history: History[Event] = History(KEEP, {
        "rider_locations": HistoryLimits(0, 1.0), "user:": HistoryLimits(2, 5.0),
        "user:vip:": HistoryLimits(9, 50.0)})
    assert history.limits_for(channel) == expected


@pytest.mark.parametrize(("max_entries", "ttl_s"), [
    (-1, 1.0), (True, 1.0), (1.5, 1.0), (1, 0.0), (1, -1.0), (1, math.nan)])
def test_invalid_limits_are_refused(max_entries: int, ttl_s: float) -> None:
    with pytest.raises(ValueError, match=r"max_entries|ttl_s"):
        HistoryLimits(max_entries, ttl_s)


def test_epochs_fit_an_sse_event_id() -> None:
    epochs = {new_epoch() for _ in range(50)}
    assert len(epochs) == 50
    for epoch in epochs:
        assert StreamPosition(epoch, 0).epoch == epoch  # validated there


@settings(max_examples=200, deadline=None)
@given(plan=st.lists(st.tuples(st.sets(st.sampled_from("abc"), min_size=1),
                               st.floats(0, 3)), max_size=40),
       asked=st.sets(st.sampled_from("abc"), min_size=1), from_offset=st.integers(0, 45),
       size=st.integers(0, 6))
def test_never_a_silent_gap(plan: list[tuple[set[str], float]], asked: set[str],
                            from_offset: int, size: int) -> None:
    """Whatever was published, retained or expired: a complete answer is exactly what the
    asked channels published after the offset, and an incomplete one is a subset of it."""
    history: History[Event] = History(HistoryLimits(size, 4.0), epoch=E)
    now = 0.0
    published: list[tuple[int, set[str]]] = []
    for channels, step in plan:
        now += step
        published.append((publish(history, sorted(channels), now), channels))
    from_offset = min(from_offset, history.last_offset)
    expected = [o for o, channels in published if o > from_offset and channels & asked]
    got, complete = since(history, sorted(asked), from_offset, now)
    assert got == sorted(set(got))
    assert set(got) <= set(expected)
    if complete:
        assert got == expected
