"""The development provider: HS256 tokens signed with a secret the gateway itself holds.

It lets a developer or a test connect without an identity provider. Everything is local, so
authenticate() does no I/O and never creates an HTTP client.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import jwt

from ..errors import ConfigError
from ..messages import Credentials
from .base import parse_token, require_algorithm, verify_token
from .claims import ClaimRules

DEV_ISSUER = "yellowbox-realtime-dev"
DEV_AUDIENCE = "yellowbox-realtime"

_HS256 = {"HS256": jwt.get_algorithm_by_name("HS256")}
# A role claim with one of these names would overwrite the claim the token relies on.
_REGISTERED_CLAIMS = frozenset({"iss", "aud", "sub", "iat", "exp", "nbf", "auth_time"})


def mint_dev_token(
    secret: str,
    uid: str,
    role: str,
    *,
    ttl_s: int = 3600,
    now: float | None = None,
    role_claim: str = "role",
) -> str:
    """A token the dev provider with the same ``secret`` accepts for ``uid`` as ``role``."""
    if not secret:
        raise ValueError("secret must not be empty")
    if not uid:
        raise ValueError("uid must not be empty")
    if ttl_s <= 0:
        raise ValueError("ttl_s must be positive")
    if not role_claim or role_claim in _REGISTERED_CLAIMS:
        raise ValueError(f"role_claim must not be empty or a registered claim: {role_claim!r}")
    issued_at = int(time.time() if now is None else now)
    claims = {
        "iss": DEV_ISSUER,
        "aud": DEV_AUDIENCE,
        "sub": uid,
        "iat": issued_at,
        "exp": issued_at + ttl_s,
        role_claim: role,
    }
    return jwt.encode(claims, secret, algorithm="HS256")


class DevAuthenticator:
    """Accepts tokens from :func:`mint_dev_token` made with the same secret."""

    def __init__(
        self,
        secret: str,
        *,
        role_claim: str = "role",
        default_role: str = "rider",
        clock_skew_s: float = 5,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not secret:
            raise ConfigError("auth.dev_secret: the dev provider needs a secret")
        self._key = secret.encode()
        self._clock = clock
        self._rules = ClaimRules(
            role_claim=role_claim,
            default_role=default_role,
            leeway_s=clock_skew_s,
            issuer=DEV_ISSUER,
            audience=DEV_AUDIENCE,
            require_iat=True,
        )

    async def authenticate(self, token: str) -> Credentials:
        parsed = parse_token(token)
        algorithm = require_algorithm(parsed, _HS256)
        return verify_token(parsed, algorithm, self._key, self._rules, self._clock())

    async def aclose(self) -> None:
        """Nothing to release."""
