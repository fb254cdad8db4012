"""Recovery bookkeeping (pid, offset) and token timing, without a connection."""

from __future__ import annotations

import base64
import json

import pytest

from yellowbox_realtime.client.session import Recovery, refresh_delay, token_expiry


def test_without_a_pid_the_auth_is_the_token_alone_and_offsets_are_ignored() -> None:
    recovery = Recovery()
    assert recovery.connected({"sid": "s1"}, sent_pid=None) is False
    recovery.event(["update", "offset-1"])
    assert recovery.offset is None
    assert recovery.connect_auth("t") == {"token": "t"}


def test_a_pid_makes_string_last_arguments_offsets() -> None:
    recovery = Recovery()
    assert recovery.connected({"sid": "s1", "pid": "p1"}, sent_pid=None) is False
    assert recovery.connect_auth("t") == {"token": "t", "pid": "p1"}
    recovery.event([{"riderId": "r1"}, "0-1"])
    recovery.event([{"riderId": "r1"}, 17])  # not a string: not an offset
    recovery.event([])
    assert recovery.offset == "0-1"
    recovery.event(["0-2"])
    assert recovery.connect_auth("t2") == {"token": "t2", "pid": "p1", "offset": "0-2"}


def test_the_same_pid_back_means_recovered_and_keeps_the_offset() -> None:
    recovery = Recovery(pid="p1", offset="0-9")
    assert recovery.connected({"sid": "s2", "pid": "p1"}, sent_pid="p1") is True
    assert recovery.connect_auth("t") == {"token": "t", "pid": "p1", "offset": "0-9"}


def test_a_new_pid_is_a_new_session_and_forgets_the_old_offset() -> None:
    recovery = Recovery(pid="p1", offset="0-9")
    assert recovery.connected({"sid": "s2", "pid": "p2"}, sent_pid="p1") is False
    assert recovery.connect_auth("t") == {"token": "t", "pid": "p2"}


def test_no_pid_in_the_answer_ends_recovery() -> None:
    recovery = Recovery(pid="p1", offset="0-9")
    assert recovery.connected({"sid": "s2"}, sent_pid="p1") is False
    assert recovery.connect_auth("t") == {"token": "t"}
    recovery.event(["0-10"])
    assert recovery.offset is None


@pytest.mark.parametrize("ack", [{"sid": "s", "pid": 5}, None, "p1", ["p1"]])
def test_malformed_answers_are_not_recoveries(ack: object) -> None:
    recovery = Recovery(pid="p1")
    assert recovery.connected(ack, sent_pid="p1") is False
    assert recovery.pid is None


def _jwt(payload: object) -> str:
    def part(value: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()
    return f"{part({'alg': 'HS256'})}.{part(payload)}.c2ln"


def test_token_expiry_reads_exp_without_a_key() -> None:
    assert token_expiry(_jwt({"sub": "u", "exp": 1700000000})) == 1700000000.0


@pytest.mark.parametrize("token", [
    "not-a-jwt", "a.b", "a.!!!.c", _jwt({"sub": "u"}), _jwt({"exp": "soon"}),
    _jwt({"exp": True}), _jwt(["exp"]),
])
def test_token_expiry_is_none_when_unreadable(token: str) -> None:
    assert token_expiry(token) is None


def test_refresh_comes_a_margin_before_expiry() -> None:
    assert refresh_delay(1000.0, now=400.0, margin_s=60.0) == 540.0


def test_a_token_shorter_lived_than_the_margin_refreshes_halfway() -> None:
    assert refresh_delay(1000.0, now=990.0, margin_s=60.0) == 5.0


@pytest.mark.parametrize("expires_at", [None, 1000.0, 900.0])
def test_no_refresh_without_expiry_or_after_it(expires_at: float | None) -> None:
    assert refresh_delay(expires_at, now=1000.0, margin_s=60.0) is None
