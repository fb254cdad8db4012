"""The generic JWT provider: an HS256 shared secret, or RS256/ES256 keys from a JWKS URL.

(Named ``jwt_provider`` rather than ``jwt`` so that ``import jwt`` always reads as PyJWT.)
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from jwt.exceptions import InvalidKeyError

from ..errors import ConfigError
from ..messages import Credentials
from .base import parse_token, require_algorithm, verify_token
from .claims import ClaimRules
from .keys import (
    DEFAULT_MAX_AGE_S,
    REFETCH_INTERVAL_S,
    KeySet,
    KeySetError,
    PublicKey,
    VerificationKey,
    check_key_url,
    key_for_token,
)

_HMAC = {"HS256": jwt.get_algorithm_by_name("HS256")}
_ASYMMETRIC = {name: jwt.get_algorithm_by_name(name) for name in ("RS256", "ES256")}


class JwtAuthenticator:
    """Verifies JWTs from a third-party issuer; exactly one of ``secret``/``jwks_url``.

    ``issuer`` and ``audience`` are checked only when given. ``http`` and ``clock`` are for
    sharing a client and for tests; the provider closes only a client it created.
    """

    def __init__(
        self,
        *,
        secret: str | None = None,
        jwks_url: str | None = None,
        issuer: str | None = None,
        audience: str | None = None,
        role_claim: str = "role",
        default_role: str = "rider",
        clock_skew_s: float = 5,
        http: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
        default_max_age_s: float = DEFAULT_MAX_AGE_S,
        refetch_interval_s: float = REFETCH_INTERVAL_S,
    ) -> None:
        if bool(secret) == bool(jwks_url):
            raise ConfigError("auth.jwt_secret / auth.jwks_url: the jwt provider needs "
                              "exactly one of them")
        if jwks_url:
            check_key_url(jwks_url, "auth.jwks_url")
        self._secret = secret.encode() if secret else b""
        self._keys = (
            KeySet(jwks_url, parse_jwks, http=http, clock=clock,
                   default_max_age_s=default_max_age_s, refetch_interval_s=refetch_interval_s)
            if jwks_url else None
        )
        self._clock = clock
        self._rules = ClaimRules(
            role_claim=role_claim,
            default_role=default_role,
            leeway_s=clock_skew_s,
            issuer=issuer or None,
            audience=audience or None,
        )

    async def authenticate(self, token: str) -> Credentials:
        parsed = parse_token(token)
        key: bytes | PublicKey
        if self._keys is None:
            algorithm = require_algorithm(parsed, _HMAC)
            key = self._secret
        else:
            algorithm, key = await key_for_token(parsed, self._keys, _ASYMMETRIC)
        return verify_token(parsed, algorithm, key, self._rules, self._clock())

    async def aclose(self) -> None:
        if self._keys is not None:
            await self._keys.aclose()


def parse_jwks(body: bytes) -> dict[str, VerificationKey]:
    """The RS256 and ES256 signing keys of a JWKS document, by kid.

    Keys we cannot use (encryption keys, other types or curves, no kid) are skipped, as a
    JWKS may legitimately publish them; a usable-looking key that does not load is an error.
    """
    try:
        document = json.loads(body)
    except ValueError as exc:
        raise KeySetError("JWKS is not valid JSON") from exc
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise KeySetError("JWKS has no 'keys' list")
    keys: dict[str, VerificationKey] = {}
    for jwk in document["keys"]:
        if not isinstance(jwk, dict):
            raise KeySetError("JWKS key is not an object")
        kid = jwk.get("kid")
        algorithm = _algorithm_for(jwk)
        if not isinstance(kid, str) or not kid or algorithm is None or kid in keys:
            continue
        keys[kid] = VerificationKey(algorithm, _load_public_key(jwk, algorithm))
    return keys


def _algorithm_for(jwk: Mapping[str, Any]) -> str | None:
    if jwk.get("use", "sig") != "sig":
        return None
    if jwk.get("kty") == "RSA":
        algorithm = "RS256"
    elif jwk.get("kty") == "EC" and jwk.get("crv") == "P-256":
        algorithm = "ES256"
    else:
        return None
    # A key published for another algorithm (PS256, RS512, ...) is not ours to use.
    return algorithm if jwk.get("alg", algorithm) == algorithm else None


def _load_public_key(jwk: dict[str, Any], algorithm: str) -> PublicKey:
    try:
        loaded = (RSAAlgorithm.from_jwk(jwk) if algorithm == "RS256"
                  else ECAlgorithm.from_jwk(jwk))
    except (InvalidKeyError, KeyError, TypeError, ValueError) as exc:
        raise KeySetError(f"JWKS key {jwk.get('kid')!r} does not load") from exc
    # A JWKS that (wrongly) includes private parts: keep only the public half.
    if isinstance(loaded, RSAPrivateKey | EllipticCurvePrivateKey):
        return loaded.public_key()
    return loaded
