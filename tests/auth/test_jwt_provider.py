from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from yellowbox_realtime.auth.jwt_provider import JwtAuthenticator, parse_jwks
from yellowbox_realtime.auth.keys import KeySetError
from yellowbox_realtime.errors import AuthBackendUnavailable, AuthenticationError, ConfigError

from .support import NOW, FakeClock, KeyServer, ec_jwk, hs256_with, public_pem, raw_token, rsa_jwk

SECRET = "shared-secret-with-at-least-32-bytes!"
ISSUER = "https://issuer.test/"
AUDIENCE = "yellowbox"


def claims(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"iss": ISSUER, "aud": AUDIENCE, "sub": "u1", "iat": int(NOW),
                            "exp": int(NOW) + 300}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not ...}


def rs256(key: rsa.RSAPrivateKey, kid: str | None = "rsa-1", **overrides: Any) -> str:
    headers = {"kid": kid} if kid is not None else None
    return jwt.encode(claims(**overrides), key, algorithm="RS256", headers=headers)


async def refused(auth: JwtAuthenticator, token: str) -> str:
    with pytest.raises(AuthenticationError) as info:
        await auth.authenticate(token)
    return info.value.message


@pytest.fixture
def jwks_server(
    key_server: KeyServer, rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey
) -> KeyServer:
    key_server.serve_jwks([rsa_jwk(rsa_key, "rsa-1"), ec_jwk(ec_key, "ec-1")])
    return key_server


@pytest.fixture
async def jwks_auth(jwks_server: KeyServer, clock: FakeClock) -> AsyncIterator[JwtAuthenticator]:
    auth = JwtAuthenticator(jwks_url=jwks_server.url, issuer=ISSUER, audience=AUDIENCE,
                            clock=clock, clock_skew_s=0)
    yield auth
    await auth.aclose()


@pytest.fixture
def secret_auth(clock: FakeClock) -> JwtAuthenticator:
    return JwtAuthenticator(secret=SECRET, issuer=ISSUER, audience=AUDIENCE, clock=clock)


# --- shared secret -----------------------------------------------------------------------


async def test_hs256_secret_round_trip(secret_auth: JwtAuthenticator) -> None:
    token = jwt.encode(claims(role="ops"), SECRET, algorithm="HS256")
    creds = await secret_auth.authenticate(token)
    assert (creds.uid, creds.role, creds.expires_at) == ("u1", "ops", NOW + 300)


async def test_hs256_wrong_secret(secret_auth: JwtAuthenticator) -> None:
    token = jwt.encode(claims(), SECRET + "x", algorithm="HS256")
    assert await refused(secret_auth, token) == "token signature is invalid"


async def test_secret_mode_refuses_asymmetric_and_unsigned_tokens(
    secret_auth: JwtAuthenticator, rsa_key: rsa.RSAPrivateKey
) -> None:
    for token in (rs256(rsa_key), raw_token({"alg": "none"}, claims())):
        assert await refused(secret_auth, token) == "token algorithm is not allowed: expected HS256"


async def test_secret_mode_needs_no_http_client(
    clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("created an HTTP client")

    monkeypatch.setattr(httpx, "AsyncClient", forbidden)
    auth = JwtAuthenticator(secret=SECRET, clock=clock)
    await auth.authenticate(jwt.encode(claims(), SECRET, algorithm="HS256"))
    await auth.aclose()


async def test_issuer_and_audience_are_checked_only_when_configured(clock: FakeClock) -> None:
    loose = JwtAuthenticator(secret=SECRET, clock=clock)
    token = jwt.encode(claims(iss=..., aud=...), SECRET, algorithm="HS256")
    assert (await loose.authenticate(token)).uid == "u1"
    strict = JwtAuthenticator(secret=SECRET, issuer=ISSUER, audience=AUDIENCE, clock=clock)
    assert await refused(strict, token) == "token has no issuer"


@pytest.mark.parametrize(("secret", "url"), [(None, None), ("s", "http://127.0.0.1/k")])
def test_exactly_one_of_secret_and_jwks_url(secret: str | None, url: str | None) -> None:
    with pytest.raises(ConfigError, match="exactly one"):
        JwtAuthenticator(secret=secret, jwks_url=url)


def test_jwks_url_must_be_http() -> None:
    with pytest.raises(ConfigError, match="jwks_url"):
        JwtAuthenticator(jwks_url="ftp://127.0.0.1/jwks")


# --- JWKS --------------------------------------------------------------------------------


async def test_rs256_from_jwks(jwks_auth: JwtAuthenticator, rsa_key: rsa.RSAPrivateKey) -> None:
    creds = await jwks_auth.authenticate(rs256(rsa_key, role="finance"))
    assert (creds.uid, creds.role, creds.expires_at) == ("u1", "finance", NOW + 300)


async def test_es256_from_jwks(
    jwks_auth: JwtAuthenticator, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    token = jwt.encode(claims(), ec_key, algorithm="ES256", headers={"kid": "ec-1"})
    assert (await jwks_auth.authenticate(token)).uid == "u1"


async def test_forged_token_is_refused(
    jwks_auth: JwtAuthenticator, other_rsa_key: rsa.RSAPrivateKey
) -> None:
    assert await refused(jwks_auth, rs256(other_rsa_key)) == "token signature is invalid"


async def test_algorithm_must_match_the_keys(
    jwks_auth: JwtAuthenticator, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    # Signed by the EC key but names the RSA key's kid.
    token = jwt.encode(claims(), ec_key, algorithm="ES256", headers={"kid": "rsa-1"})
    assert await refused(jwks_auth, token) == "token algorithm does not match its key"


async def test_hs256_with_the_public_key_is_refused(
    jwks_auth: JwtAuthenticator, rsa_key: rsa.RSAPrivateKey
) -> None:
    token = hs256_with(public_pem(rsa_key), {"alg": "HS256", "kid": "rsa-1"}, claims())
    assert await refused(jwks_auth, token) == \
        "token algorithm is not allowed: expected ES256 or RS256"


async def test_alg_none_is_refused(jwks_auth: JwtAuthenticator) -> None:
    token = raw_token({"alg": "none", "kid": "rsa-1"}, claims())
    assert await refused(jwks_auth, token) == \
        "token algorithm is not allowed: expected ES256 or RS256"


async def test_missing_kid(jwks_auth: JwtAuthenticator, rsa_key: rsa.RSAPrivateKey) -> None:
    assert await refused(jwks_auth, rs256(rsa_key, kid=None)) == "token has no key id"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"exp": int(NOW) - 1}, "token has expired"),
        ({"aud": "someone-else"}, f"token audience is wrong: expected {AUDIENCE}"),
        ({"iss": "https://evil.test/"}, f"token issuer is wrong: expected {ISSUER}"),
        ({"nbf": int(NOW) + 60}, "token is not valid yet (nbf)"),
        ({"sub": ""}, "token subject (sub) is empty"),
    ],
)
async def test_bad_claims(
    jwks_auth: JwtAuthenticator, rsa_key: rsa.RSAPrivateKey,
    overrides: dict[str, Any], message: str,
) -> None:
    assert await refused(jwks_auth, rs256(rsa_key, **overrides)) == message


async def test_audience_may_be_a_list(
    jwks_auth: JwtAuthenticator, rsa_key: rsa.RSAPrivateKey
) -> None:
    token = rs256(rsa_key, aud=["other", AUDIENCE])
    assert (await jwks_auth.authenticate(token)).uid == "u1"


async def test_jwks_is_cached_and_refetched_after_max_age(
    jwks_server: KeyServer, jwks_auth: JwtAuthenticator, clock: FakeClock,
    rsa_key: rsa.RSAPrivateKey,
) -> None:
    jwks_server.headers = {"Cache-Control": "max-age=120"}
    token = rs256(rsa_key)
    await jwks_auth.authenticate(token)
    clock.advance(119)
    await jwks_auth.authenticate(token)
    assert jwks_server.requests == 1
    clock.advance(1)
    await jwks_auth.authenticate(token)
    assert jwks_server.requests == 2


async def test_unknown_kid_refetch_is_rate_limited(
    jwks_server: KeyServer, jwks_auth: JwtAuthenticator, clock: FakeClock,
    rsa_key: rsa.RSAPrivateKey, other_rsa_key: rsa.RSAPrivateKey,
) -> None:
    await jwks_auth.authenticate(rs256(rsa_key))
    clock.advance(30)
    for i in range(20):
        message = await refused(jwks_auth, rs256(other_rsa_key, kid=f"forged-{i}"))
        assert message == "token key id is unknown"
    assert jwks_server.requests == 2
    # The issuer rotates in a new key; within 30 s of the last fetch it is not looked for...
    jwks_server.serve_jwks([rsa_jwk(rsa_key, "rsa-1"), rsa_jwk(other_rsa_key, "rsa-2")])
    rotated = rs256(other_rsa_key, kid="rsa-2")
    clock.advance(29)
    assert await refused(jwks_auth, rotated) == "token key id is unknown"
    # ...and once it may refetch, the new key is found.
    clock.advance(1)
    assert (await jwks_auth.authenticate(rotated)).uid == "u1"
    assert jwks_server.requests == 3


async def test_concurrent_authentications_fetch_once(
    jwks_server: KeyServer, jwks_auth: JwtAuthenticator, rsa_key: rsa.RSAPrivateKey
) -> None:
    jwks_server.gate = asyncio.Event()
    token = rs256(rsa_key)
    tasks = [asyncio.create_task(jwks_auth.authenticate(token)) for _ in range(25)]
    await jwks_server.entered.wait()
    jwks_server.gate.set()
    assert {c.uid for c in await asyncio.gather(*tasks)} == {"u1"}
    assert jwks_server.requests == 1


async def test_jwks_server_down(
    dead_url: str, clock: FakeClock, rsa_key: rsa.RSAPrivateKey
) -> None:
    auth = JwtAuthenticator(jwks_url=dead_url, clock=clock)
    try:
        with pytest.raises(AuthBackendUnavailable) as info:
            await auth.authenticate(rs256(rsa_key))
        assert info.value.message == "could not fetch signing keys: key server unreachable"
    finally:
        await auth.aclose()


async def test_shared_http_client_is_left_open(
    jwks_server: KeyServer, clock: FakeClock, rsa_key: rsa.RSAPrivateKey
) -> None:
    async with httpx.AsyncClient() as client:
        auth = JwtAuthenticator(jwks_url=jwks_server.url, http=client, clock=clock)
        await auth.authenticate(rs256(rsa_key, iss=..., aud=...))
        await auth.aclose()
        assert not client.is_closed


# --- parse_jwks --------------------------------------------------------------------------


def test_parse_jwks_keeps_only_usable_signing_keys(
    rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    p384 = ec.generate_private_key(ec.SECP384R1())
    document = {"keys": [
        rsa_jwk(rsa_key, "rsa-1"),
        ec_jwk(ec_key, "ec-1"),
        rsa_jwk(rsa_key, "enc-1", use="enc"),
        rsa_jwk(rsa_key, "ps-1", alg="PS256"),
        {**ec_jwk(p384, "p384"), "alg": "ES384"},
        {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},
        {k: v for k, v in rsa_jwk(rsa_key, "x").items() if k != "kid"},
        rsa_jwk(rsa_key, "rsa-1"),
    ]}
    keys = parse_jwks(json.dumps(document).encode())
    assert {kid: k.algorithm for kid, k in keys.items()} == {"rsa-1": "RS256", "ec-1": "ES256"}
    assert isinstance(keys["rsa-1"].key, rsa.RSAPublicKey)
    assert isinstance(keys["ec-1"].key, ec.EllipticCurvePublicKey)


def test_parse_jwks_keeps_only_the_public_half_of_a_private_jwk(
    rsa_key: rsa.RSAPrivateKey,
) -> None:
    private = {**jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key, as_dict=True), "kid": "p"}
    assert isinstance(parse_jwks(json.dumps({"keys": [private]}).encode())["p"].key,
                      rsa.RSAPublicKey)


@pytest.mark.parametrize(
    "body",
    [b"nope", b"[]", b'{"keys": {}}', b'{"keys": ["x"]}',
     b'{"keys": [{"kty": "RSA", "kid": "k", "n": "!!", "e": "AQAB"}]}',
     b'{"keys": [{"kty": "RSA", "kid": "k"}]}'],
)
def test_parse_jwks_refuses_malformed_documents(body: bytes) -> None:
    with pytest.raises(KeySetError):
        parse_jwks(body)
