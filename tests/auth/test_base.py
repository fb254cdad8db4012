from __future__ import annotations

import contextlib
import json
from typing import Any

import jwt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from yellowbox_realtime.auth.base import (
    MAX_TOKEN_CHARS,
    parse_token,
    require_algorithm,
    require_key_id,
    verify_token,
)
from yellowbox_realtime.auth.claims import ClaimRules
from yellowbox_realtime.errors import AuthenticationError

from .support import NOW, b64, raw_token

SECRET = b"a-secret-long-enough-for-hs256-ok"
HS256 = {"HS256": jwt.get_algorithm_by_name("HS256")}
CLAIMS = {"sub": "u1", "exp": NOW + 60}


def hs256(claims: dict[str, Any] = CLAIMS, **headers: Any) -> str:
    return jwt.encode(claims, SECRET, algorithm="HS256", headers=headers or None)


def test_parse_splits_a_well_formed_token() -> None:
    token = hs256(kid="k1")
    parsed = parse_token(token)
    assert parsed.header == {"alg": "HS256", "typ": "JWT", "kid": "k1"}
    assert json.loads(parsed.payload) == CLAIMS
    assert parsed.signing_input == token.rsplit(".", 1)[0].encode()
    assert len(parsed.signature) == 32


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("", "token is missing"),
        (None, "token is malformed: expected a string"),
        (b"a.b.c", "token is malformed: expected a string"),
        ("garbage", "token is malformed: expected three dot-separated segments"),
        ("a.b", "token is malformed: expected three dot-separated segments"),
        ("a.b.c.d", "token is malformed: expected three dot-separated segments"),
        ("e30.e30.a+b", "token is malformed: a segment is not valid base64url"),
        ("e30.e30=.abc", "token is malformed: a segment is not valid base64url"),
        ("e30.e30.abcde", "token is malformed: a segment is not valid base64url"),
        ("e30 .e30.abc", "token is malformed: a segment is not valid base64url"),
        ("x" * (MAX_TOKEN_CHARS + 1), "token is too long"),
    ],
)
def test_malformed_tokens_are_refused(token: object, message: str) -> None:
    with pytest.raises(AuthenticationError) as info:
        parse_token(token)
    assert info.value.message == message


@pytest.mark.parametrize(
    "header",
    [
        b"not json",
        b"[1, 2]",
        b'"alg"',
        b"",
        b'{"alg": "HS256", "alg": "none"}',  # duplicate members are ambiguous
        b'{"alg": NaN}',
        b"\xff\xfe",
        b"[" * 5000 + b"]" * 5000,
    ],
)
def test_header_that_is_not_a_json_object_is_refused(header: bytes) -> None:
    with pytest.raises(AuthenticationError, match=r"^token header is not valid JSON$"):
        parse_token(f"{b64(header)}.e30.")


def test_critical_header_extensions_are_refused() -> None:
    token = raw_token({"alg": "HS256", "crit": ["exp"], "exp": 1}, CLAIMS)
    with pytest.raises(AuthenticationError, match="unsupported critical parameters"):
        parse_token(token)


def test_messages_never_contain_the_token() -> None:
    secret_looking = "eyJhbGciOiJIUzI1NiJ9." + "A" * 40 + ".sig!"
    with pytest.raises(AuthenticationError) as info:
        parse_token(secret_looking)
    assert "A" * 10 not in str(info.value)


@given(st.text(max_size=200))
def test_arbitrary_strings_raise_only_authentication_errors(token: str) -> None:
    with contextlib.suppress(AuthenticationError):
        parse_token(token)


@pytest.mark.parametrize("alg", [None, "none", "None", "RS256", 256])
def test_algorithm_outside_the_allow_list_is_refused(alg: object) -> None:
    header = {"alg": alg} if alg is not None else {}
    parsed = parse_token(raw_token(header, CLAIMS))
    with pytest.raises(AuthenticationError,
                       match=r"^token algorithm is not allowed: expected HS256$"):
        require_algorithm(parsed, HS256)


def test_allowed_algorithm_returns_its_verifier() -> None:
    assert require_algorithm(parse_token(hs256()), HS256) is HS256["HS256"]


def test_key_id_is_required_and_must_be_a_short_string() -> None:
    assert require_key_id(parse_token(hs256(kid="k1"))) == "k1"
    with pytest.raises(AuthenticationError, match=r"^token has no key id$"):
        require_key_id(parse_token(hs256()))
    for bad in ("", 7, "k" * 257):
        with pytest.raises(AuthenticationError, match=r"^token key id is malformed$"):
            require_key_id(parse_token(raw_token({"alg": "HS256", "kid": bad}, CLAIMS)))


def test_verify_token_checks_signature_before_claims() -> None:
    # The claims are also expired: the signature message proves the order.
    forged = jwt.encode({"sub": "u1", "exp": NOW - 600}, b"another-secret-of-enough-length!",
                        algorithm="HS256")
    with pytest.raises(AuthenticationError, match=r"^token signature is invalid$"):
        verify_token(parse_token(forged), HS256["HS256"], SECRET, ClaimRules(), NOW)


def test_verify_token_returns_credentials() -> None:
    creds = verify_token(parse_token(hs256()), HS256["HS256"], SECRET, ClaimRules(), NOW)
    assert (creds.uid, creds.role, creds.expires_at) == ("u1", "rider", NOW + 60)


def test_signed_payload_that_is_not_json_is_refused() -> None:
    signing_input = f"{b64(json.dumps({'alg': 'HS256'}).encode())}.{b64(b'nope')}"
    signature = HS256["HS256"].sign(signing_input.encode(), SECRET)
    token = f"{signing_input}.{b64(signature)}"
    with pytest.raises(AuthenticationError, match=r"^token payload is not valid JSON$"):
        verify_token(parse_token(token), HS256["HS256"], SECRET, ClaimRules(), NOW)
