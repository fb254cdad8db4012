"""Checking the claims of a token whose signature has already been verified.

Each provider states its rules as a :class:`ClaimRules`; the checks and their client-safe
messages live here once. Values from the token are never echoed: only names of claims and
expected values that come from our own configuration appear in messages.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from ..errors import AuthenticationError
from ..messages import Credentials

# Registered JWT claims and Firebase's bookkeeping: checked here, then not kept.
VERIFICATION_CLAIMS = frozenset({"iss", "aud", "exp", "nbf", "iat", "jti", "auth_time", "sub",
                                 "user_id", "firebase"})

NO_CLAIMS: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class ClaimRules:
    """What a provider requires of a token's claims."""

    role_claim: str = "role"
    default_role: str = "rider"
    # Allowed clock difference between us and the issuer, for exp, iat, nbf and auth_time.
    leeway_s: float = 0.0
    issuer: str | None = None
    audience: str | None = None
    # RFC 7519 allows "aud" to be a list; Firebase ID tokens always carry one string.
    audience_may_be_list: bool = True
    require_iat: bool = False
    require_auth_time: bool = False
    max_subject_chars: int | None = None


def credentials_from_claims(
    claims: dict[str, Any], rules: ClaimRules, now: float
) -> Credentials:
    """Validate ``claims`` against ``rules`` at time ``now`` and build the credentials."""
    # Identity first: telling a client its token "has expired" when it comes from the wrong
    # issuer would send it round a refresh loop that cannot succeed.
    if rules.issuer is not None:
        _check_issuer(claims, rules.issuer)
    if rules.audience is not None:
        _check_audience(claims, rules.audience, rules.audience_may_be_list)

    exp = _time_claim(claims, "exp", "expiry", required=True)
    assert exp is not None
    if now >= exp + rules.leeway_s:
        raise AuthenticationError("token has expired")
    nbf = _time_claim(claims, "nbf", "not-before time", required=False)
    if nbf is not None and nbf > now + rules.leeway_s:
        raise AuthenticationError("token is not valid yet (nbf)")
    iat = _time_claim(claims, "iat", "issue time", required=rules.require_iat)
    if iat is not None and iat > now + rules.leeway_s:
        raise AuthenticationError("token was issued in the future (iat)")
    auth_time = _time_claim(claims, "auth_time", "authentication time",
                            required=rules.require_auth_time)
    if auth_time is not None and auth_time > now + rules.leeway_s:
        raise AuthenticationError("token authentication time (auth_time) is in the future")

    uid = _subject(claims, rules.max_subject_chars)
    role = _role(claims, rules.role_claim, rules.default_role)
    # A connection keeps its credentials for hours: keep what applications use (custom
    # claims, email, name), not what was only needed to verify the token, nor the role the
    # credentials already carry; a token with nothing more shares one empty mapping.
    kept = {k: v for k, v in claims.items()
            if k not in VERIFICATION_CLAIMS and k != rules.role_claim}
    return Credentials(uid=uid, role=role, expires_at=exp,
                       claims=MappingProxyType(kept) if kept else NO_CLAIMS)


def _check_issuer(claims: dict[str, Any], expected: str) -> None:
    if "iss" not in claims:
        raise AuthenticationError("token has no issuer")
    if claims["iss"] != expected:
        raise AuthenticationError(f"token issuer is wrong: expected {expected}")


def _check_audience(claims: dict[str, Any], expected: str, may_be_list: bool) -> None:
    if "aud" not in claims:
        raise AuthenticationError("token has no audience")
    aud = claims["aud"]
    if aud == expected:
        return
    if may_be_list and isinstance(aud, list) and expected in aud:
        return
    raise AuthenticationError(f"token audience is wrong: expected {expected}")


def _time_claim(claims: dict[str, Any], name: str, label: str, *, required: bool) -> float | None:
    if name not in claims:
        if required:
            raise AuthenticationError(f"token has no {label} ({name})")
        return None
    value = claims[name]
    # bool is an int subclass, and a huge JSON number parses to inf; neither is a time.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise AuthenticationError(f"token {label} ({name}) is not a number")
    return float(value)


def _subject(claims: dict[str, Any], max_chars: int | None) -> str:
    if "sub" not in claims:
        raise AuthenticationError("token has no subject (sub)")
    sub = claims["sub"]
    if not isinstance(sub, str):
        raise AuthenticationError("token subject (sub) is not a string")
    if not sub:
        raise AuthenticationError("token subject (sub) is empty")
    if max_chars is not None and len(sub) > max_chars:
        raise AuthenticationError(f"token subject (sub) is longer than {max_chars} characters")
    return sub


def _role(claims: dict[str, Any], role_claim: str, default_role: str) -> str:
    if role_claim not in claims:
        return default_role
    role = claims[role_claim]
    if not isinstance(role, str) or not role:
        raise AuthenticationError(f"token claim {role_claim!r} must be a non-empty string")
    # A few roles shared by thousands of connections: one string each, not one per token.
    return sys.intern(role)
