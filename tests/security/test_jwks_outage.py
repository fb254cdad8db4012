"""The issuer's key endpoint down or slow: tokens signed with a key already held still
verify, tokens naming an unknown kid are refused, and however many arrive, the endpoint is
asked at most once per refetch interval."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.auth.support import FakeClock, KeyServer, rsa_jwk
from yellowbox_realtime.auth.jwt_provider import JwtAuthenticator
from yellowbox_realtime.auth.keys import MAX_STALE_S, REFETCH_INTERVAL_S
from yellowbox_realtime.errors import AuthBackendUnavailable, AuthenticationError

ISSUER = "https://issuer.test/"
AUDIENCE = "yellowbox"
MAX_AGE_S = 600
TOKENS = 200


@pytest.fixture(scope="module")
def signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
async def key_server(signing_key: rsa.RSAPrivateKey) -> AsyncIterator[KeyServer]:
    server = KeyServer()
    server.serve_jwks([rsa_jwk(signing_key, "rsa-1")])
    server.headers = {"Cache-Control": f"max-age={MAX_AGE_S}"}
    await server.start()
    yield server
    if server.gate is not None:
        server.gate.set()
    await server.stop()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def auth(key_server: KeyServer, clock: FakeClock) -> AsyncIterator[JwtAuthenticator]:
    authenticator = JwtAuthenticator(jwks_url=key_server.url, issuer=ISSUER,
                                     audience=AUDIENCE, clock=clock, clock_skew_s=0)
    yield authenticator
    await authenticator.aclose()


def token(key: rsa.RSAPrivateKey, clock: FakeClock, kid: str = "rsa-1", **claims: Any) -> str:
    body = {"iss": ISSUER, "aud": AUDIENCE, "sub": "u1", "iat": int(clock.now),
            "exp": int(clock.now) + 300, **claims}
    return jwt.encode(body, key, algorithm="RS256", headers={"kid": kid})


async def outcomes(auth: JwtAuthenticator, tokens: list[str]) -> list[str]:
    """What each token got: "ok", or the refusal's class name."""
    results = await asyncio.gather(*(auth.authenticate(t) for t in tokens),
                                   return_exceptions=True)
    return [type(r).__name__ if isinstance(r, BaseException) else "ok" for r in results]


async def test_a_key_endpoint_that_is_down(
        auth: JwtAuthenticator, key_server: KeyServer, clock: FakeClock,
        signing_key: rsa.RSAPrivateKey) -> None:
    await auth.authenticate(token(signing_key, clock))
    assert key_server.requests == 1
    key_server.status = 503
    clock.advance(MAX_AGE_S)  # the held keys have expired; the endpoint fails from now on
    known = [token(signing_key, clock, sub=f"rider-{i}") for i in range(TOKENS)]
    forged = [token(signing_key, clock, kid=f"invented-{i}") for i in range(TOKENS)]
    # Known keys verify from the cache, one after another and all at once...
    assert [(await auth.authenticate(t)).uid for t in known[:3]] == [
        "rider-0", "rider-1", "rider-2"]
    assert set(await outcomes(auth, known)) == {"ok"}
    # ...invented kids are refused...
    assert set(await outcomes(auth, forged)) == {"AuthenticationError"}
    # ...and the endpoint was asked once for all of them.
    assert key_server.requests == 2
    clock.advance(REFETCH_INTERVAL_S - 1)
    assert set(await outcomes(auth, known + forged)) == {"ok", "AuthenticationError"}
    assert key_server.requests == 2
    # Once the interval is up, one fetch again: it fails, so the invented kids waiting for
    # it learn that the keys could not be checked, and the known keys still verify.
    clock.advance(1)
    assert set(await outcomes(auth, known + forged)) == {"ok", "AuthBackendUnavailable"}
    assert key_server.requests == 3
    # Held keys are trusted for a bounded time past their expiry, no longer.
    clock.advance(MAX_STALE_S)
    with pytest.raises(AuthBackendUnavailable):
        await auth.authenticate(token(signing_key, clock))
    # When the endpoint is back, everything verifies again.
    key_server.status = 200
    clock.advance(REFETCH_INTERVAL_S)
    assert (await auth.authenticate(token(signing_key, clock))).uid == "u1"


async def test_a_key_endpoint_that_does_not_answer(
        auth: JwtAuthenticator, key_server: KeyServer, clock: FakeClock,
        signing_key: rsa.RSAPrivateKey) -> None:
    await auth.authenticate(token(signing_key, clock))
    key_server.gate = asyncio.Event()  # requests now hang until the test lets them go
    key_server.entered.clear()
    clock.advance(MAX_AGE_S)
    # The first token after the expiry starts the refresh and waits for it...
    first = asyncio.create_task(auth.authenticate(token(signing_key, clock, sub="first")))
    await key_server.entered.wait()
    # ...while every other token with a known key is verified at once, not queued behind it.
    known = [token(signing_key, clock, sub=f"rider-{i}") for i in range(TOKENS)]
    assert set(await outcomes(auth, known)) == {"ok"}
    assert not first.done()
    # An invented kid waits for the one fetch under way rather than starting another.
    forged = asyncio.create_task(auth.authenticate(token(signing_key, clock, kid="invented")))
    key_server.gate.set()
    assert (await first).uid == "first"
    with pytest.raises(AuthenticationError, match="unknown"):
        await forged
    assert key_server.requests == 2
