"""The idempotency table: a window, a bound in all, and a share per owner that keeps one
owner's keys from pushing out another's."""

from __future__ import annotations

from yellowbox_realtime.core.idempotency import IdempotencyKey, IdempotencyTable


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_key_answers_within_its_window_and_not_after() -> None:
    clock = Clock()
    table: IdempotencyTable[int] = IdempotencyTable(window_s=10.0, clock=clock)
    key = IdempotencyKey("api:a", "k")
    table.put(key, 1)
    clock.now = 10.0
    assert table.get(key) == 1
    clock.now = 10.5
    assert table.get(key) is None
    table.put(key, 2)  # used again after its window: it starts afresh
    assert table.get(key) == 2
    assert len(table) == 1


def test_owners_with_the_same_key_never_meet() -> None:
    table: IdempotencyTable[str] = IdempotencyTable(clock=Clock())
    table.put(IdempotencyKey("api:a", "k"), "a's")
    assert table.get(IdempotencyKey("user:b", "k")) is None
    # Nor can an owner and key be chosen to spell another pair in a shared store (Redis).
    assert str(IdempotencyKey("user:x:abc", "k")) != str(IdempotencyKey("user:x", "abc:k"))


def test_an_owner_past_its_share_loses_its_own_oldest_keys_only() -> None:
    table: IdempotencyTable[int] = IdempotencyTable(max_keys=100, max_per_owner=10,
                                                    clock=Clock())
    victim = [IdempotencyKey("api:victim", f"v{n}") for n in range(5)]
    for n, key in enumerate(victim):
        table.put(key, n)
    for n in range(10_000):  # a flood of fresh keys by one owner
        table.put(IdempotencyKey("user:flooder", f"f{n}"), n)
    assert table.held_by("user:flooder") == 10
    assert [table.get(key) for key in victim] == [0, 1, 2, 3, 4]
    # The flooder keeps its newest.
    assert table.get(IdempotencyKey("user:flooder", "f9999")) == 9999
    assert table.get(IdempotencyKey("user:flooder", "f9989")) is None
    assert len(table) == 15


def test_the_table_is_bounded_in_all_and_forgets_the_oldest_first() -> None:
    table: IdempotencyTable[int] = IdempotencyTable(max_keys=20, max_per_owner=10,
                                                    clock=Clock())
    for owner in range(5):
        for n in range(10):
            table.put(IdempotencyKey(f"api:{owner}", f"k{n}"), n)
    assert len(table) == 20
    assert table.held_by("api:0") == table.held_by("api:2") == 0
    assert table.held_by("api:3") == table.held_by("api:4") == 10


def test_expired_keys_leave_when_the_table_is_next_used() -> None:
    clock = Clock()
    table: IdempotencyTable[int] = IdempotencyTable(window_s=1.0, clock=clock)
    for n in range(50):
        table.put(IdempotencyKey("api:a", f"k{n}"), n)
    clock.now = 5.0
    table.put(IdempotencyKey("api:b", "k"), 0)
    assert len(table) == 1
    assert table.held_by("api:a") == 0
