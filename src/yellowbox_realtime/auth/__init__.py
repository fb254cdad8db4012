"""Authentication: turning a client's bearer token into :class:`Credentials`.

Three providers share one interface (:class:`Authenticator`): ``dev`` (HS256 with a local
secret), ``jwt`` (a shared secret or a JWKS URL) and ``firebase`` (Firebase ID tokens).
:func:`build_authenticator` picks one from the configuration.
"""

from __future__ import annotations

import httpx

from ..config import AuthConfig
from ..errors import ConfigError
from .base import Authenticator
from .dev import DEV_AUDIENCE, DEV_ISSUER, DevAuthenticator, mint_dev_token
from .firebase import FirebaseAuthenticator
from .jwt_provider import JwtAuthenticator

__all__ = [
    "DEV_AUDIENCE",
    "DEV_ISSUER",
    "Authenticator",
    "DevAuthenticator",
    "FirebaseAuthenticator",
    "JwtAuthenticator",
    "build_authenticator",
    "mint_dev_token",
]


def build_authenticator(
    config: AuthConfig, dev_secret: str, *, http: httpx.AsyncClient | None = None
) -> Authenticator:
    """The provider ``config.provider`` names.

    ``dev_secret`` is the resolved dev secret (the configured one, or the one generated and
    kept in the state directory); only the dev provider uses it. ``http`` is shared by the
    providers that fetch keys and is left open by their ``aclose()``.
    """
    role_claim, default_role, skew = (config.role_claim, config.default_role,
                                       config.clock_skew_s)
    if config.provider == "dev":
        return DevAuthenticator(dev_secret, role_claim=role_claim, default_role=default_role,
                                clock_skew_s=skew)
    if config.provider == "jwt":
        return JwtAuthenticator(secret=config.jwt_secret or None,
                                jwks_url=config.jwks_url or None,
                                issuer=config.issuer or None,
                                audience=config.audience or None,
                                role_claim=role_claim, default_role=default_role,
                                clock_skew_s=skew, http=http)
    if config.provider == "firebase":
        return FirebaseAuthenticator(config.firebase_project_id, config.firebase_cert_url,
                                     role_claim=role_claim, default_role=default_role,
                                     clock_skew_s=skew, http=http)
    raise ConfigError(f"auth.provider: expected dev, jwt or firebase, got {config.provider!r}")
