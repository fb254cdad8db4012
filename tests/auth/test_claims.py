from __future__ import annotations

from typing import Any

import pytest

from yellowbox_realtime.auth.claims import ClaimRules, credentials_from_claims
from yellowbox_realtime.errors import AuthenticationError

NOW = 1_700_000_000.0
LEEWAY = 5.0
RULES = ClaimRules(leeway_s=LEEWAY, issuer="iss-1", audience="aud-1", require_iat=True,
                   require_auth_time=True, max_subject_chars=8)


def claims(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"iss": "iss-1", "aud": "aud-1", "sub": "u1", "iat": NOW - 10,
                            "auth_time": NOW - 20, "exp": NOW + 100}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not ...}


def refused(values: dict[str, Any], rules: ClaimRules = RULES) -> str:
    with pytest.raises(AuthenticationError) as info:
        credentials_from_claims(values, rules, NOW)
    return info.value.message


def test_valid_claims_give_credentials_with_the_application_claims() -> None:
    values = claims(extra="x", email="r@yb.example")
    creds = credentials_from_claims(values, RULES, NOW)
    assert creds.uid == "u1"
    assert creds.role == "rider"
    assert creds.expires_at == NOW + 100
    assert isinstance(creds.expires_at, float)
    # Claims used only to verify the token are not kept for the connection's lifetime.
    assert dict(creds.claims) == {"extra": "x", "email": "r@yb.example"}


def test_the_role_claim_is_not_kept_twice_and_a_bare_token_keeps_no_claims() -> None:
    creds = credentials_from_claims(claims(role="admin"), RULES, NOW)
    assert creds.role == "admin"
    assert dict(creds.claims) == {}


def test_role_comes_from_the_configured_claim_or_the_default() -> None:
    rules = ClaimRules(role_claim="https://yb/role", default_role="guest")
    assert credentials_from_claims(claims(), rules, NOW).role == "guest"
    assert credentials_from_claims(claims(**{"https://yb/role": "ops"}), rules, NOW).role == "ops"
    # A claim under another name is not the role.
    assert credentials_from_claims(claims(role="admin"), rules, NOW).role == "guest"


@pytest.mark.parametrize("role", ["", 3, None, ["admin"], True])
def test_role_claim_present_but_not_a_non_empty_string_is_refused(role: object) -> None:
    assert refused(claims(role=role)) == "token claim 'role' must be a non-empty string"


@pytest.mark.parametrize(
    ("name", "inside", "outside", "message"),
    [
        ("exp", NOW - LEEWAY + 0.5, NOW - LEEWAY, "token has expired"),
        ("iat", NOW + LEEWAY, NOW + LEEWAY + 0.5, "token was issued in the future (iat)"),
        ("nbf", NOW + LEEWAY, NOW + LEEWAY + 0.5, "token is not valid yet (nbf)"),
        ("auth_time", NOW + LEEWAY, NOW + LEEWAY + 0.5,
         "token authentication time (auth_time) is in the future"),
    ],
)
def test_clock_skew_applies_to_each_time_claim(
    name: str, inside: float, outside: float, message: str
) -> None:
    credentials_from_claims(claims(**{name: inside}), RULES, NOW)
    assert refused(claims(**{name: outside})) == message


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("exp", "token has no expiry (exp)"),
        ("iat", "token has no issue time (iat)"),
        ("auth_time", "token has no authentication time (auth_time)"),
        ("iss", "token has no issuer"),
        ("aud", "token has no audience"),
        ("sub", "token has no subject (sub)"),
    ],
)
def test_required_claims_must_be_present(name: str, message: str) -> None:
    assert refused(claims(**{name: ...})) == message


def test_optional_time_claims_may_be_absent() -> None:
    relaxed = ClaimRules()
    creds = credentials_from_claims(claims(iat=..., auth_time=..., iss=..., aud=...),
                                    relaxed, NOW)
    assert creds.uid == "u1"


@pytest.mark.parametrize("value", ["1700000100", True, None, [1], float("inf"), float("nan")])
def test_time_claims_must_be_finite_numbers(value: object) -> None:
    assert refused(claims(exp=value)) == "token expiry (exp) is not a number"


def test_issuer_and_audience_must_match() -> None:
    assert refused(claims(iss="other")) == "token issuer is wrong: expected iss-1"
    assert refused(claims(aud="other")) == "token audience is wrong: expected aud-1"


def test_audience_list_is_accepted_only_when_the_rules_allow_it() -> None:
    assert credentials_from_claims(claims(aud=["x", "aud-1"]), RULES, NOW).uid == "u1"
    strict = ClaimRules(audience="aud-1", audience_may_be_list=False)
    assert refused(claims(aud=["aud-1"]), strict) == "token audience is wrong: expected aud-1"
    assert refused(claims(aud=["x"])) == "token audience is wrong: expected aud-1"


def test_wrong_values_are_not_echoed() -> None:
    assert "attacker" not in refused(claims(aud="attacker" * 100))
    assert "attacker" not in refused(claims(iss="attacker" * 100))


@pytest.mark.parametrize(
    ("sub", "message"),
    [
        ("", "token subject (sub) is empty"),
        (42, "token subject (sub) is not a string"),
        ("123456789", "token subject (sub) is longer than 8 characters"),
    ],
)
def test_subject_must_be_a_non_empty_bounded_string(sub: object, message: str) -> None:
    assert refused(claims(sub=sub)) == message
    assert credentials_from_claims(claims(sub="12345678"), RULES, NOW).uid == "12345678"


def test_identity_is_checked_before_expiry() -> None:
    assert refused(claims(iss="other", exp=NOW - 1000)) == "token issuer is wrong: expected iss-1"


def test_credentials_claims_are_read_only() -> None:
    creds = credentials_from_claims(claims(), RULES, NOW)
    with pytest.raises(TypeError):
        creds.claims["sub"] = "someone-else"  # type: ignore[index]
