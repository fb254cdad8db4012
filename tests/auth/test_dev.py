from __future__ import annotations

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from yellowbox_realtime.auth.dev import (
    DEV_AUDIENCE,
    DEV_ISSUER,
    DevAuthenticator,
    mint_dev_token,
)
from yellowbox_realtime.errors import AuthenticationError, ConfigError

from .support import NOW, FakeClock, raw_token

SECRET = "dev-secret-that-is-at-least-32-bytes-long"


def dev(clock: FakeClock, **kwargs: object) -> DevAuthenticator:
    return DevAuthenticator(SECRET, clock=clock, **kwargs)  # type: ignore[arg-type]


def claims(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {"iss": DEV_ISSUER, "aud": DEV_AUDIENCE, "sub": "u1",
                               "iat": int(NOW), "exp": int(NOW) + 60}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not ...}


async def refused(auth: DevAuthenticator, token: str) -> str:
    with pytest.raises(AuthenticationError) as info:
        await auth.authenticate(token)
    return info.value.message


async def test_mint_and_verify_round_trip(clock: FakeClock) -> None:
    token = mint_dev_token(SECRET, "rider-7", "rider", ttl_s=120, now=NOW)
    creds = await dev(clock).authenticate(token)
    assert (creds.uid, creds.role, creds.expires_at) == ("rider-7", "rider", NOW + 120)
    assert dict(creds.claims) == {}  # iss, aud, times: verified; the role: in creds.role


def test_minted_token_is_a_standard_hs256_jwt() -> None:
    token = mint_dev_token(SECRET, "u1", "ops", ttl_s=60, now=NOW)
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    decoded = jwt.decode(token, SECRET, algorithms=["HS256"], audience=DEV_AUDIENCE,
                         issuer=DEV_ISSUER, options={"verify_exp": False})
    assert decoded == {"iss": DEV_ISSUER, "aud": DEV_AUDIENCE, "sub": "u1",
                       "iat": int(NOW), "exp": int(NOW) + 60, "role": "ops"}


async def test_tokens_from_pyjwt_are_accepted(clock: FakeClock) -> None:
    token = jwt.encode(claims(role="admin"), SECRET, algorithm="HS256")
    assert (await dev(clock).authenticate(token)).role == "admin"


async def test_role_claim_name_and_default_role(clock: FakeClock) -> None:
    auth = dev(clock, role_claim="yb_role", default_role="viewer")
    token = mint_dev_token(SECRET, "u1", "finance", now=NOW, role_claim="yb_role")
    assert (await auth.authenticate(token)).role == "finance"
    plain = jwt.encode(claims(), SECRET, algorithm="HS256")
    assert (await auth.authenticate(plain)).role == "viewer"


async def test_wrong_secret_is_refused(clock: FakeClock) -> None:
    token = mint_dev_token("some-other-secret-of-32-bytes-or-more", "u1", "rider", now=NOW)
    assert await refused(dev(clock), token) == "token signature is invalid"


async def test_expired_token_is_refused_after_the_skew(clock: FakeClock) -> None:
    token = mint_dev_token(SECRET, "u1", "rider", ttl_s=60, now=NOW)
    auth = dev(clock, clock_skew_s=5)
    clock.advance(64)
    await auth.authenticate(token)
    clock.advance(1)
    assert await refused(auth, token) == "token has expired"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"iss": "someone-else"}, f"token issuer is wrong: expected {DEV_ISSUER}"),
        ({"aud": "another-service"}, f"token audience is wrong: expected {DEV_AUDIENCE}"),
        ({"iat": ...}, "token has no issue time (iat)"),
        ({"iat": int(NOW) + 600}, "token was issued in the future (iat)"),
        ({"exp": ...}, "token has no expiry (exp)"),
        ({"sub": ""}, "token subject (sub) is empty"),
        ({"sub": ...}, "token has no subject (sub)"),
        ({"role": ""}, "token claim 'role' must be a non-empty string"),
    ],
)
async def test_bad_claims_are_refused(
    clock: FakeClock, overrides: dict[str, object], message: str
) -> None:
    token = jwt.encode(claims(**overrides), SECRET, algorithm="HS256")
    assert await refused(dev(clock), token) == message


async def test_only_hs256_is_accepted(clock: FakeClock, rsa_key: rsa.RSAPrivateKey) -> None:
    auth = dev(clock)
    rs256 = jwt.encode(claims(), rsa_key, algorithm="RS256")
    hs512 = jwt.encode(claims(), SECRET + SECRET, algorithm="HS512")
    unsigned = raw_token({"alg": "none"}, claims())
    for token in (rs256, hs512, unsigned):
        assert await refused(auth, token) == "token algorithm is not allowed: expected HS256"


async def test_malformed_and_missing_tokens(clock: FakeClock) -> None:
    auth = dev(clock)
    assert await refused(auth, "") == "token is missing"
    assert (await refused(auth, "not-a-token")).startswith("token is malformed")


async def test_authenticate_never_creates_an_http_client(
    clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("the dev provider created an HTTP client")

    monkeypatch.setattr(httpx, "AsyncClient", forbidden)
    auth = dev(clock)
    await auth.authenticate(mint_dev_token(SECRET, "u1", "rider", now=NOW))
    await auth.aclose()


def test_empty_secret_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"^auth\.dev_secret"):
        DevAuthenticator("")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"secret": ""}, "secret must not be empty"),
        ({"uid": ""}, "uid must not be empty"),
        ({"ttl_s": 0}, "ttl_s must be positive"),
        ({"role_claim": "sub"}, "role_claim must not be empty or a registered claim"),
        ({"role_claim": ""}, "role_claim must not be empty or a registered claim"),
    ],
)
def test_mint_refuses_bad_arguments(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"secret": SECRET, "uid": "u1", "role": "rider", **kwargs}
    with pytest.raises(ValueError, match=f"^{message}"):
        mint_dev_token(**args)  # type: ignore[arg-type]


def test_mint_uses_the_current_time_by_default() -> None:
    token = mint_dev_token(SECRET, "u1", "rider", ttl_s=60)
    decoded = jwt.decode(token, SECRET, algorithms=["HS256"], audience=DEV_AUDIENCE)
    assert decoded["exp"] - decoded["iat"] == 60
