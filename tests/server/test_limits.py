"""ClientLimits on its own: addresses behind proxies, counts, buckets (time passed in)."""

from __future__ import annotations

import pytest

from yellowbox_realtime.config import LimitsConfig
from yellowbox_realtime.core.counters import Counters
from yellowbox_realtime.errors import ConfigError, TooManyConnections, TooManyRequests
from yellowbox_realtime.server.limits import ClientLimits, EventVerdict, Rates


def limits(**settings: object) -> ClientLimits:
    return ClientLimits(LimitsConfig(**settings), Counters())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("10.0.0.1", "203.0.113.9", "10.0.0.1"),  # not a trusted proxy: header ignored
        ("127.0.0.1", "", "127.0.0.1"),
        ("127.0.0.1", "203.0.113.9", "203.0.113.9"),
        ("127.0.0.1", "6.6.6.6, 203.0.113.9", "203.0.113.9"),  # the left is the client's say
        ("127.0.0.1", "203.0.113.9, ::1", "203.0.113.9"),  # a trusted hop is skipped
        ("127.0.0.1", "203.0.113.9, not-an-ip", "127.0.0.1"),
        ("127.0.0.1", "::1", "127.0.0.1"),
    ],
)
def test_the_client_address_behind_trusted_proxies(peer: str, forwarded: str,
                                                   expected: str) -> None:
    subject = limits(trusted_proxies=("127.0.0.1", "::1"))
    assert subject.address(peer, {"x-forwarded-for": forwarded}) == expected


def test_connection_counts_refuse_at_the_limit_and_release() -> None:
    subject = limits(max_connections_per_ip=2, max_connections_per_user=1)
    for _ in range(2):
        subject.admit("a", 0.0)
        subject.open_ip("a")
    with pytest.raises(TooManyConnections):
        subject.admit("a", 0.0)
    subject.admit("b", 0.0)
    subject.close_ip("a")
    subject.admit("a", 0.0)
    subject.open_user("u")
    with pytest.raises(TooManyConnections):
        subject.open_user("u")
    subject.close_user("u")
    subject.open_user("u")
    subject.close_user("u")
    subject.close_ip("a")
    subject.close_ip("a")
    assert subject.by_ip == {}
    assert subject.by_user == {}
    assert subject.counters.limited == {"connections_per_ip": 1, "connections_per_user": 1}


def test_handshakes_refill_at_the_rate_and_say_when_to_retry() -> None:
    subject = limits(handshakes_per_ip_per_s=2.0, handshake_burst=2)
    subject.admit("a", 10.0)
    subject.admit("a", 10.0)
    with pytest.raises(TooManyRequests) as refused:
        subject.admit("a", 10.0)
    assert refused.value.retry_after_s == 1
    subject.admit("a", 10.5)  # one token back after half a second


def test_idle_handshake_buckets_are_forgotten_when_the_table_fills() -> None:
    subject = limits(handshakes_per_ip_per_s=1.0, handshake_burst=1)
    for i in range(10_000):
        subject.admit(f"10.0.{i // 256}.{i % 256}", 0.0)
    subject.admit("new", 5.0)
    assert len(subject._handshakes) == 1


def test_events_refused_then_a_sustained_flood_disconnects() -> None:
    subject = limits(events_per_s=10.0, events_burst=2, flood_refusals=3)
    bucket = None
    verdicts = []
    for _ in range(7):
        verdict, bucket = subject.take_event(bucket, 0.0)
        verdicts.append(verdict)
    assert verdicts == [EventVerdict.ACCEPT] * 2 + [EventVerdict.REFUSE] * 3 + \
        [EventVerdict.DISCONNECT] * 2
    # Time refills both the budget and the patience.
    verdict, bucket = subject.take_event(bucket, 10.0)
    assert verdict == EventVerdict.ACCEPT


def test_zero_turns_limits_off() -> None:
    subject = limits(max_connections_per_ip=0, handshakes_per_ip_per_s=0, handshake_burst=0,
                     events_per_s=0, events_burst=0)
    for _ in range(1000):
        subject.admit("a", 0.0)
        subject.open_ip("a")
        assert subject.take_event(None, 0.0)[0] == EventVerdict.ACCEPT


@pytest.mark.parametrize("settings", [
    {"max_connections_per_ip": -1},
    {"handshakes_per_ip_per_s": 1.0, "handshake_burst": 0},
    {"events_per_s": 0.0, "events_burst": 10},
    {"trusted_proxies": ("proxy.local",)},
])
def test_invalid_settings_name_the_key(settings: dict[str, object]) -> None:
    with pytest.raises(ConfigError, match="limits"):
        LimitsConfig(**settings)  # type: ignore[arg-type]


def test_a_full_rate_table_forgets_the_key_used_longest_ago_not_everyone() -> None:
    rates = Rates(rate=1.0, burst=1, max_keys=3)
    for key in ("a", "b", "c"):
        assert rates.take(key, 0.0) == 0
    assert rates.take("a", 0.1) == 1  # "a" is busy, and now the most recently used
    # A flood of new keys pushes out only the oldest ones, never the busy "a" at once.
    assert rates.take("d", 0.2) == 0
    assert rates.take("e", 0.2) == 0
    assert len(rates) == 3
    assert rates.take("a", 0.3) == 1  # still limited: its bucket was kept
    assert rates.take("b", 0.3) == 0  # pushed out earlier: it starts afresh
    assert len(rates) == 3
