"""Departed sockets: kept for the window, taken once, bounded in number."""

from __future__ import annotations

from yellowbox_realtime.core.recovery import Departed, RecoveryStore


def departed(sid: str, left_at: float) -> Departed:
    return Departed(sid, "u1", "/", ("rider_locations",), None, "ep", 0, left_at)


def test_a_record_is_taken_once_within_the_window() -> None:
    store = RecoveryStore(window_s=10.0, max_sessions=10)
    store.keep("pid-1", departed("s1", left_at=0.0))
    assert store.take("pid-1", now=10.0) == departed("s1", 0.0)
    assert store.take("pid-1", now=10.0) is None


def test_records_expire_after_the_window() -> None:
    store = RecoveryStore(window_s=10.0, max_sessions=10)
    store.keep("old", departed("s1", left_at=0.0))
    store.keep("new", departed("s2", left_at=5.0))
    assert store.take("old", now=10.5) is None
    assert len(store) == 1
    assert store.take("new", now=10.5) is not None


def test_the_oldest_go_first_past_the_bound() -> None:
    store = RecoveryStore(window_s=100.0, max_sessions=2)
    for i in range(3):
        store.keep(f"pid-{i}", departed(f"s{i}", left_at=float(i)))
    assert len(store) == 2
    assert store.take("pid-0", now=3.0) is None
    assert store.take("pid-2", now=3.0) is not None


def test_one_user_keeps_at_most_its_share_and_gets_it_back_as_records_go() -> None:
    store = RecoveryStore(window_s=10.0, max_sessions=10, max_per_user=2)
    for i in range(4):
        store.keep(f"pid-{i}", departed(f"s{i}", left_at=float(i)))
    other = Departed("s9", "u2", "/", (), None, "ep", 0, 4.0)
    store.keep("pid-9", other)
    assert (store.held_by("u1"), store.held_by("u2"), len(store)) == (2, 1, 3)
    assert store.take("pid-2", now=4.0) is None  # beyond the share: never kept
    assert store.take("pid-0", now=4.0) is not None
    store.keep("pid-5", departed("s5", left_at=5.0))  # a place came free
    assert store.held_by("u1") == 2
    store.expire(now=11.5)  # pid-1 (left at 1) is out of the window
    assert store.held_by("u1") == 1
    assert store.take("pid-9", now=11.5) == other
    assert store.held_by("u2") == 0
