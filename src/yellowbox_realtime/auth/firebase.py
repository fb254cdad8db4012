"""The Firebase provider: verifies Firebase ID tokens the way the Firebase Admin SDK does.

Checks, as the Admin SDK makes them: header alg RS256 with a kid found in Google's
certificate set; aud is the project id; iss is https://securetoken.google.com/<project id>;
sub is a non-empty string of at most 128 characters (it becomes the uid); exp is in the
future; iat and auth_time are present and not in the future. Unlike the Admin SDK, a
configurable clock skew applies to all the times.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import httpx
import jwt
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from ..errors import ConfigError
from ..messages import Credentials
from .base import parse_token, verify_token
from .claims import ClaimRules
from .keys import (
    DEFAULT_MAX_AGE_S,
    REFETCH_INTERVAL_S,
    KeySet,
    KeySetError,
    VerificationKey,
    check_key_url,
    key_for_token,
)

ISSUER_PREFIX = "https://securetoken.google.com/"
MAX_UID_CHARS = 128

_RS256 = {"RS256": jwt.get_algorithm_by_name("RS256")}


class FirebaseAuthenticator:
    """Verifies Firebase ID tokens for ``project_id`` against the certificates at
    ``cert_url``."""

    def __init__(
        self,
        project_id: str,
        cert_url: str,
        *,
        role_claim: str = "role",
        default_role: str = "rider",
        clock_skew_s: float = 5,
        http: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
        default_max_age_s: float = DEFAULT_MAX_AGE_S,
        refetch_interval_s: float = REFETCH_INTERVAL_S,
    ) -> None:
        if not project_id:
            raise ConfigError("auth.firebase_project_id: required by the firebase provider")
        check_key_url(cert_url, "auth.firebase_cert_url")
        self._keys = KeySet(cert_url, parse_google_certs, http=http, clock=clock,
                            default_max_age_s=default_max_age_s,
                            refetch_interval_s=refetch_interval_s)
        self._clock = clock
        self._rules = ClaimRules(
            role_claim=role_claim,
            default_role=default_role,
            leeway_s=clock_skew_s,
            issuer=ISSUER_PREFIX + project_id,
            audience=project_id,
            audience_may_be_list=False,
            require_iat=True,
            require_auth_time=True,
            max_subject_chars=MAX_UID_CHARS,
        )

    async def authenticate(self, token: str) -> Credentials:
        parsed = parse_token(token)
        algorithm, key = await key_for_token(parsed, self._keys, _RS256)
        return verify_token(parsed, algorithm, key, self._rules, self._clock())

    async def aclose(self) -> None:
        await self._keys.aclose()


def parse_google_certs(body: bytes) -> dict[str, VerificationKey]:
    """Google's format, a JSON object of kid -> PEM X.509 certificate, as RS256 keys."""
    try:
        document = json.loads(body)
    except ValueError as exc:
        raise KeySetError("certificate set is not valid JSON") from exc
    if not isinstance(document, dict):
        raise KeySetError("certificate set is not a JSON object")
    keys: dict[str, VerificationKey] = {}
    for kid, pem in document.items():
        if not isinstance(pem, str):
            raise KeySetError(f"certificate {kid!r} is not a string")
        try:
            public_key = x509.load_pem_x509_certificate(pem.encode()).public_key()
        except ValueError as exc:
            raise KeySetError(f"certificate {kid!r} does not load") from exc
        if not isinstance(public_key, RSAPublicKey):
            raise KeySetError(f"certificate {kid!r} does not hold an RSA key")
        keys[kid] = VerificationKey("RS256", public_key)
    return keys
