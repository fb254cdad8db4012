from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from yellowbox_realtime.auth.firebase import FirebaseAuthenticator, parse_google_certs
from yellowbox_realtime.auth.keys import KeySetError
from yellowbox_realtime.errors import AuthBackendUnavailable, AuthenticationError, ConfigError

from .support import (
    FIREBASE_ISSUER,
    NOW,
    PROJECT,
    FakeClock,
    KeyServer,
    b64,
    firebase_claims,
    hs256_with,
    public_pem,
    raw_token,
    self_signed_pem,
    sign,
)


@pytest.fixture
def cert_server(key_server: KeyServer, rsa_key: rsa.RSAPrivateKey) -> KeyServer:
    key_server.serve_certs({"k1": self_signed_pem(rsa_key)})
    key_server.headers = {"Cache-Control": "public, max-age=3600, must-revalidate"}
    return key_server


@pytest.fixture
async def auth(cert_server: KeyServer, clock: FakeClock) -> AsyncIterator[FirebaseAuthenticator]:
    authenticator = FirebaseAuthenticator(PROJECT, cert_server.url, clock=clock, clock_skew_s=0)
    yield authenticator
    await authenticator.aclose()


async def refused(auth: FirebaseAuthenticator, token: str) -> str:
    with pytest.raises(AuthenticationError) as info:
        await auth.authenticate(token)
    assert not isinstance(info.value, AuthBackendUnavailable)
    return info.value.message


async def test_valid_token(auth: FirebaseAuthenticator, rsa_key: rsa.RSAPrivateKey) -> None:
    creds = await auth.authenticate(sign(rsa_key, firebase_claims()))
    assert creds.uid == "rider-42"
    assert creds.role == "rider"
    assert creds.expires_at == NOW + 3600
    assert "iss" not in creds.claims
    assert "user_id" not in creds.claims


async def test_role_claim_name_and_default_from_arguments(
    cert_server: KeyServer, clock: FakeClock, rsa_key: rsa.RSAPrivateKey
) -> None:
    auth = FirebaseAuthenticator(PROJECT, cert_server.url, clock=clock,
                                 role_claim="yb_role", default_role="guest")
    try:
        assert (await auth.authenticate(sign(rsa_key, firebase_claims()))).role == "guest"
        token = sign(rsa_key, firebase_claims(yb_role="admin", role="ignored"))
        assert (await auth.authenticate(token)).role == "admin"
        bad = sign(rsa_key, firebase_claims(yb_role=["admin"]))
        assert await refused(auth, bad) == "token claim 'yb_role' must be a non-empty string"
    finally:
        await auth.aclose()


async def test_expired(auth: FirebaseAuthenticator, rsa_key: rsa.RSAPrivateKey) -> None:
    token = sign(rsa_key, firebase_claims(exp=int(NOW)))
    assert await refused(auth, token) == "token has expired"


async def test_forged(auth: FirebaseAuthenticator, other_rsa_key: rsa.RSAPrivateKey) -> None:
    assert await refused(auth, sign(other_rsa_key, firebase_claims())) == \
        "token signature is invalid"


async def test_tampered_payload(auth: FirebaseAuthenticator, rsa_key: rsa.RSAPrivateKey) -> None:
    header, _, signature = sign(rsa_key, firebase_claims()).split(".")
    payload = b64(json.dumps(firebase_claims(sub="admin")).encode())
    assert await refused(auth, f"{header}.{payload}.{signature}") == "token signature is invalid"


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        (firebase_claims(aud="other-project"), f"token audience is wrong: expected {PROJECT}"),
        (firebase_claims(aud=[PROJECT]), f"token audience is wrong: expected {PROJECT}"),
        (firebase_claims(drop=("aud",)), "token has no audience"),
        (firebase_claims(iss="https://securetoken.google.com/other"),
         f"token issuer is wrong: expected {FIREBASE_ISSUER}"),
        (firebase_claims(drop=("iss",)), "token has no issuer"),
        (firebase_claims(iat=int(NOW) + 10), "token was issued in the future (iat)"),
        (firebase_claims(drop=("iat",)), "token has no issue time (iat)"),
        (firebase_claims(drop=("auth_time",)), "token has no authentication time (auth_time)"),
        (firebase_claims(auth_time=int(NOW) + 10),
         "token authentication time (auth_time) is in the future"),
        (firebase_claims(sub=""), "token subject (sub) is empty"),
        (firebase_claims(sub=7), "token subject (sub) is not a string"),
        (firebase_claims(drop=("sub",)), "token has no subject (sub)"),
        (firebase_claims(sub="u" * 129), "token subject (sub) is longer than 128 characters"),
        (firebase_claims(drop=("exp",)), "token has no expiry (exp)"),
    ],
)
async def test_bad_claims(
    auth: FirebaseAuthenticator, rsa_key: rsa.RSAPrivateKey,
    claims: dict[str, Any], message: str,
) -> None:
    assert await refused(auth, sign(rsa_key, claims)) == message


async def test_sub_of_exactly_128_characters_is_accepted(
    auth: FirebaseAuthenticator, rsa_key: rsa.RSAPrivateKey
) -> None:
    creds = await auth.authenticate(sign(rsa_key, firebase_claims(sub="u" * 128)))
    assert creds.uid == "u" * 128


async def test_clock_skew_is_allowed(
    cert_server: KeyServer, clock: FakeClock, rsa_key: rsa.RSAPrivateKey
) -> None:
    auth = FirebaseAuthenticator(PROJECT, cert_server.url, clock=clock, clock_skew_s=5)
    try:
        token = sign(rsa_key, firebase_claims(iat=int(NOW) + 5, auth_time=int(NOW) + 5,
                                              exp=int(NOW) - 4))
        assert (await auth.authenticate(token)).uid == "rider-42"
    finally:
        await auth.aclose()


async def test_missing_kid(auth: FirebaseAuthenticator, rsa_key: rsa.RSAPrivateKey) -> None:
    assert await refused(auth, sign(rsa_key, firebase_claims(), kid=None)) == \
        "token has no key id"


async def test_unknown_kid(auth: FirebaseAuthenticator, rsa_key: rsa.RSAPrivateKey) -> None:
    assert await refused(auth, sign(rsa_key, firebase_claims(), kid="k2")) == \
        "token key id is unknown"


async def test_alg_none(auth: FirebaseAuthenticator) -> None:
    token = raw_token({"alg": "none", "kid": "k1"}, firebase_claims())
    assert await refused(auth, token) == "token algorithm is not allowed: expected RS256"


async def test_hs256_signed_with_the_public_key(
    auth: FirebaseAuthenticator, rsa_key: rsa.RSAPrivateKey
) -> None:
    # The classic confusion attack: the attacker knows the public key and uses it as an
    # HMAC secret, hoping the verifier does the same.
    for secret in (public_pem(rsa_key), self_signed_pem(rsa_key).encode()):
        token = hs256_with(secret, {"alg": "HS256", "kid": "k1"}, firebase_claims())
        assert await refused(auth, token) == "token algorithm is not allowed: expected RS256"


async def test_other_asymmetric_algorithms_are_refused(
    auth: FirebaseAuthenticator, ec_key: ec.EllipticCurvePrivateKey, rsa_key: rsa.RSAPrivateKey
) -> None:
    es256 = sign(ec_key, firebase_claims(), alg="ES256")
    rs512 = sign(rsa_key, firebase_claims(), alg="RS512")
    for token in (es256, rs512):
        assert await refused(auth, token) == "token algorithm is not allowed: expected RS256"


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("garbage", "token is malformed: expected three dot-separated segments"),
        ("a.b.c.d", "token is malformed: expected three dot-separated segments"),
        ("ab$.cd.ef", "token is malformed: a segment is not valid base64url"),
        (f"{b64(b'{not json')}.{b64(b'{}')}.", "token header is not valid JSON"),
        ("", "token is missing"),
    ],
)
async def test_malformed_tokens(auth: FirebaseAuthenticator, token: str, message: str) -> None:
    assert await refused(auth, token) == message


async def test_certificates_cached_per_max_age(
    cert_server: KeyServer, auth: FirebaseAuthenticator, clock: FakeClock,
    rsa_key: rsa.RSAPrivateKey,
) -> None:
    await auth.authenticate(sign(rsa_key, firebase_claims()))
    clock.advance(3599)
    await auth.authenticate(sign(rsa_key, firebase_claims(clock.now)))
    assert cert_server.requests == 1
    clock.advance(1)
    await auth.authenticate(sign(rsa_key, firebase_claims(clock.now)))
    assert cert_server.requests == 2


async def test_rotated_certificates_are_picked_up_after_expiry(
    cert_server: KeyServer, auth: FirebaseAuthenticator, clock: FakeClock,
    rsa_key: rsa.RSAPrivateKey, other_rsa_key: rsa.RSAPrivateKey,
) -> None:
    await auth.authenticate(sign(rsa_key, firebase_claims()))
    cert_server.serve_certs({"k2": self_signed_pem(other_rsa_key)})
    clock.advance(3600)
    assert await refused(auth, sign(rsa_key, firebase_claims(clock.now))) == \
        "token key id is unknown"
    creds = await auth.authenticate(sign(other_rsa_key, firebase_claims(clock.now), kid="k2"))
    assert creds.uid == "rider-42"
    assert cert_server.requests == 2


async def test_concurrent_authentications_fetch_once(
    cert_server: KeyServer, auth: FirebaseAuthenticator, rsa_key: rsa.RSAPrivateKey
) -> None:
    cert_server.gate = asyncio.Event()
    token = sign(rsa_key, firebase_claims())
    tasks = [asyncio.create_task(auth.authenticate(token)) for _ in range(25)]
    await cert_server.entered.wait()
    cert_server.gate.set()
    assert {c.uid for c in await asyncio.gather(*tasks)} == {"rider-42"}
    assert cert_server.requests == 1


async def test_cert_server_down(
    dead_url: str, clock: FakeClock, rsa_key: rsa.RSAPrivateKey
) -> None:
    auth = FirebaseAuthenticator(PROJECT, dead_url, clock=clock)
    try:
        with pytest.raises(AuthBackendUnavailable) as info:
            await auth.authenticate(sign(rsa_key, firebase_claims()))
        assert info.value.message == "could not fetch signing keys: key server unreachable"
        assert info.value.http_status == 503
    finally:
        await auth.aclose()


@pytest.mark.parametrize(
    "body",
    [b"<html>oops</html>", b'{"k1": "-----BEGIN CERTIFICATE-----\\nAAAA\\n"}', b'{"k1": 1}'],
)
async def test_malformed_certificates(
    cert_server: KeyServer, auth: FirebaseAuthenticator, rsa_key: rsa.RSAPrivateKey,
    body: bytes,
) -> None:
    cert_server.body = body
    with pytest.raises(AuthBackendUnavailable) as info:
        await auth.authenticate(sign(rsa_key, firebase_claims()))
    assert info.value.message == "could not fetch signing keys: key set is malformed"
    assert isinstance(info.value.__cause__, AuthBackendUnavailable)
    assert isinstance(info.value.__cause__.__cause__, KeySetError)


def test_parse_google_certs_loads_public_keys_once(rsa_key: rsa.RSAPrivateKey) -> None:
    keys = parse_google_certs(json.dumps({"a": self_signed_pem(rsa_key)}).encode())
    assert keys["a"].algorithm == "RS256"
    assert isinstance(keys["a"].key, rsa.RSAPublicKey)
    assert keys["a"].key.public_numbers() == rsa_key.public_key().public_numbers()


def test_parse_google_certs_refuses_non_rsa_certificates(
    ec_key: ec.EllipticCurvePrivateKey,
) -> None:
    pem = self_signed_pem(ec_key)
    with pytest.raises(KeySetError, match="RSA"):
        parse_google_certs(json.dumps({"ec": pem}).encode())


def test_project_id_and_cert_url_are_required() -> None:
    with pytest.raises(ConfigError, match="firebase_project_id"):
        FirebaseAuthenticator("", "http://127.0.0.1/keys")
    with pytest.raises(ConfigError, match="firebase_cert_url"):
        FirebaseAuthenticator(PROJECT, "keys.json")


def test_token_built_by_pyjwt_has_the_firebase_shape(rsa_key: rsa.RSAPrivateKey) -> None:
    # Guards the helper the other tests rely on: a real RS256 token with the kid header.
    token = sign(rsa_key, firebase_claims())
    assert jwt.get_unverified_header(token) == {"alg": "RS256", "typ": "JWT", "kid": "k1"}
