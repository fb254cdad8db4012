from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from yellowbox_realtime.auth.keys import (
    KeySet,
    KeySetError,
    VerificationKey,
    check_key_url,
    freshness_lifetime,
)
from yellowbox_realtime.errors import AuthBackendUnavailable, AuthenticationError, ConfigError

from .support import FakeClock, KeyServer


class Parser:
    """Parses {"kid": anything} into keys and counts how often it runs."""

    def __init__(self, key: rsa.RSAPublicKey) -> None:
        self.key = key
        self.calls = 0

    def __call__(self, body: bytes) -> Mapping[str, VerificationKey]:
        self.calls += 1
        try:
            document = json.loads(body)
        except ValueError as exc:
            raise KeySetError("bad") from exc
        if not isinstance(document, dict):
            raise KeySetError("bad")
        return {kid: VerificationKey("RS256", self.key) for kid in document}


@pytest.fixture
def parser(rsa_key: rsa.RSAPrivateKey) -> Parser:
    return Parser(rsa_key.public_key())


def key_set(url: str, parser: Parser, clock: FakeClock, *, default_max_age_s: float = 300,
            refetch_interval_s: float = 30) -> KeySet:
    return KeySet(url, parser, clock=clock, default_max_age_s=default_max_age_s,
                  refetch_interval_s=refetch_interval_s)


@pytest.mark.parametrize(
    ("cache_control", "age", "expected"),
    [
        ("public, max-age=19204, must-revalidate, no-transform", None, 19204.0),
        ("max-age=600", "100", 500.0),
        ("MAX-AGE=\"60\"", None, 60.0),
        ("max-age=60", "90", 0.0),
        ("no-cache", None, 300.0),
        (None, None, 300.0),
        ("max-age=-5", None, 300.0),
        ("max-age=abc", None, 300.0),
        ("max-age=\u00b2", None, 300.0),
        ("max-age=60", "junk", 60.0),
    ],
)
def test_freshness_lifetime(cache_control: str | None, age: str | None, expected: float) -> None:
    assert freshness_lifetime(cache_control, age, 300.0) == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "expected an http or https URL"),
        ("file:///etc/keys.json", "expected an http or https URL"),
        ("/relative/keys", "expected an http or https URL"),
        ("http://[::1", "not a valid URL"),
    ],
)
def test_key_urls_are_checked_up_front(url: str, message: str) -> None:
    check_key_url("https://www.googleapis.com/robot/v1/metadata/x509/x@y", "auth.k")
    with pytest.raises(ConfigError) as info:
        check_key_url(url, "auth.k")
    assert info.value.message == f"auth.k: {message}"


async def test_keys_are_cached_for_max_age_then_refetched(
    key_server: KeyServer, parser: Parser, clock: FakeClock
) -> None:
    key_server.body = b'{"k1": 1}'
    key_server.headers = {"Cache-Control": "public, max-age=100"}
    keys = key_set(key_server.url, parser, clock)
    try:
        first = await keys.get("k1")
        clock.advance(99)
        assert await keys.get("k1") is first
        assert (key_server.requests, parser.calls) == (1, 1)
        clock.advance(1)
        await keys.get("k1")
        assert (key_server.requests, parser.calls) == (2, 2)
    finally:
        await keys.aclose()


async def test_default_lifetime_without_cache_control(
    key_server: KeyServer, parser: Parser, clock: FakeClock
) -> None:
    key_server.body = b'{"k1": 1}'
    key_server.headers = {}
    keys = key_set(key_server.url, parser, clock, default_max_age_s=300)
    try:
        await keys.get("k1")
        clock.advance(299)
        await keys.get("k1")
        assert key_server.requests == 1
        clock.advance(1)
        await keys.get("k1")
        assert key_server.requests == 2
    finally:
        await keys.aclose()


async def test_unknown_kid_refetches_at_most_once_per_interval(
    key_server: KeyServer, parser: Parser, clock: FakeClock
) -> None:
    key_server.body = b'{"k1": 1}'
    keys = key_set(key_server.url, parser, clock, refetch_interval_s=30)
    try:
        await keys.get("k1")
        clock.advance(30)
        for _ in range(5):
            with pytest.raises(AuthenticationError, match=r"^token key id is unknown$"):
                await keys.get("forged")
        assert key_server.requests == 2  # the first unknown kid refetched, the rest did not
        clock.advance(29.5)
        with pytest.raises(AuthenticationError, match="unknown"):
            await keys.get("forged")
        assert key_server.requests == 2
        # A rotated key published meanwhile is picked up once the interval has passed.
        key_server.body = b'{"k1": 1, "k2": 2}'
        clock.advance(0.5)
        assert (await keys.get("k2")).algorithm == "RS256"
        assert key_server.requests == 3
    finally:
        await keys.aclose()


async def test_unknown_kid_soon_after_the_first_fetch_does_not_refetch(
    key_server: KeyServer, parser: Parser, clock: FakeClock
) -> None:
    key_server.body = b'{"k1": 1}'
    keys = key_set(key_server.url, parser, clock)
    try:
        with pytest.raises(AuthenticationError, match="unknown"):
            await keys.get("k9")
        with pytest.raises(AuthenticationError, match="unknown"):
            await keys.get("k9")
        assert key_server.requests == 1
    finally:
        await keys.aclose()


async def test_concurrent_gets_share_one_fetch(
    key_server: KeyServer, parser: Parser, clock: FakeClock
) -> None:
    key_server.body = b'{"k1": 1, "k2": 2}'
    key_server.gate = asyncio.Event()
    keys = key_set(key_server.url, parser, clock)
    try:
        tasks = [asyncio.create_task(keys.get(kid)) for kid in ("k1", "k2") * 10]
        await key_server.entered.wait()
        key_server.gate.set()
        results = await asyncio.gather(*tasks)
        assert {r.algorithm for r in results} == {"RS256"}
        assert (key_server.requests, parser.calls) == (1, 1)
    finally:
        await keys.aclose()


async def test_a_cancelled_waiter_does_not_cancel_the_shared_fetch(
    key_server: KeyServer, parser: Parser, clock: FakeClock
) -> None:
    key_server.body = b'{"k1": 1}'
    key_server.gate = asyncio.Event()
    keys = key_set(key_server.url, parser, clock)
    try:
        quitter = asyncio.create_task(keys.get("k1"))
        stayer = asyncio.create_task(keys.get("k1"))
        await key_server.entered.wait()
        quitter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await quitter
        key_server.gate.set()
        assert (await stayer).algorithm == "RS256"
        assert key_server.requests == 1
    finally:
        await keys.aclose()


async def test_concurrent_failures_reach_every_waiter(
    key_server: KeyServer, parser: Parser, clock: FakeClock
) -> None:
    key_server.status = 500
    key_server.gate = asyncio.Event()
    keys = key_set(key_server.url, parser, clock)
    try:
        tasks = [asyncio.create_task(keys.get("k1")) for _ in range(3)]
        await key_server.entered.wait()
        key_server.gate.set()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert all(isinstance(r, AuthBackendUnavailable) for r in results)
        assert key_server.requests == 1
    finally:
        await keys.aclose()


async def test_unreachable_server(dead_url: str, parser: Parser, clock: FakeClock) -> None:
    keys = key_set(dead_url, parser, clock)
    try:
        with pytest.raises(AuthBackendUnavailable) as info:
            await keys.get("k1")
        assert info.value.message == "could not fetch signing keys: key server unreachable"
        assert isinstance(info.value.__cause__, AuthBackendUnavailable)
        assert isinstance(info.value.__cause__.__cause__, httpx.HTTPError)
        assert info.value.temporary
    finally:
        await keys.aclose()


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (503, b'{"k1": 1}', "key server answered HTTP 503"),
        (200, b"<html>", "key set is malformed"),
        (200, b"{}", "key set has no usable keys"),
        (200, b'{"k": "' + b"x" * 2000 + b'"}', "key set is too large"),
    ],
)
async def test_bad_responses_make_the_backend_unavailable(
    key_server: KeyServer, parser: Parser, clock: FakeClock,
    status: int, body: bytes, reason: str,
) -> None:
    key_server.status, key_server.body = status, body
    keys = KeySet(key_server.url, parser, clock=clock, max_bytes=1000)
    try:
        with pytest.raises(AuthBackendUnavailable) as info:
            await keys.get("k1")
        assert info.value.message == f"could not fetch signing keys: {reason}"
    finally:
        await keys.aclose()


async def test_failed_refresh_keeps_old_keys_and_recovers(
    key_server: KeyServer, parser: Parser, clock: FakeClock
) -> None:
    key_server.body = b'{"k1": 1}'
    keys = key_set(key_server.url, parser, clock)
    try:
        await keys.get("k1")
        key_server.status = 500
        clock.advance(30)
        with pytest.raises(AuthBackendUnavailable):
            await keys.get("k2")  # unknown kid refetch fails
        assert (await keys.get("k1")).algorithm == "RS256"  # cache untouched
        key_server.status = 200
        clock.advance(600)
        await keys.get("k1")
        assert key_server.requests == 3
    finally:
        await keys.aclose()


async def test_timeout(key_server: KeyServer, parser: Parser, clock: FakeClock) -> None:
    key_server.gate = asyncio.Event()  # never set: the server does not answer
    keys = KeySet(key_server.url, parser, clock=clock, timeout_s=0.05)
    try:
        with pytest.raises(AuthBackendUnavailable, match=r"key server timed out$"):
            await keys.get("k1")
    finally:
        await keys.aclose()


async def test_injected_client_is_used_and_left_open(
    key_server: KeyServer, parser: Parser, clock: FakeClock
) -> None:
    seen: list[httpx.Request] = []

    async def record(request: httpx.Request) -> None:
        seen.append(request)

    key_server.body = b'{"k1": 1}'
    async with httpx.AsyncClient(event_hooks={"request": [record]}) as client:
        keys = KeySet(key_server.url, parser, http=client, clock=clock)
        await keys.get("k1")
        await keys.aclose()
        assert not client.is_closed
        assert len(seen) == 1


async def test_own_client_is_created_lazily_and_closed(
    key_server: KeyServer, parser: Parser, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    created: list[httpx.AsyncClient] = []
    real = httpx.AsyncClient

    def tracking(*args: object, **kwargs: object) -> httpx.AsyncClient:
        client = real(*args, **kwargs)  # type: ignore[arg-type]
        created.append(client)
        return client

    monkeypatch.setattr(httpx, "AsyncClient", tracking)
    key_server.body = b'{"k1": 1}'
    keys = KeySet(key_server.url, parser, clock=clock)
    assert created == []
    await keys.get("k1")
    assert len(created) == 1
    await keys.aclose()
    assert created[0].is_closed


async def test_closing_during_a_fetch_fails_waiters_cleanly(
    key_server: KeyServer, parser: Parser, clock: FakeClock
) -> None:
    key_server.gate = asyncio.Event()
    keys = key_set(key_server.url, parser, clock)
    waiter = asyncio.create_task(keys.get("k1"))
    await key_server.entered.wait()
    await keys.aclose()
    with pytest.raises(AuthBackendUnavailable, match="authenticator is closed"):
        await waiter
    with pytest.raises(AuthBackendUnavailable, match="authenticator is closed"):
        await keys.get("k1")
