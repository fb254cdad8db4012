from __future__ import annotations

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from yellowbox_realtime.auth import (
    DevAuthenticator,
    FirebaseAuthenticator,
    JwtAuthenticator,
    build_authenticator,
    mint_dev_token,
)
from yellowbox_realtime.config import AuthConfig
from yellowbox_realtime.errors import AuthenticationError, ConfigError

from .support import PROJECT, KeyServer, firebase_claims, self_signed_pem, sign

SECRET = "dev-secret-that-is-at-least-32-bytes-long"


async def test_dev_provider_uses_the_resolved_secret_and_role_settings() -> None:
    config = AuthConfig(provider="dev", role_claim="yb_role", default_role="guest",
                        dev_secret="ignored-the-resolved-one-is-passed")
    auth = build_authenticator(config, SECRET)
    assert isinstance(auth, DevAuthenticator)
    token = mint_dev_token(SECRET, "u1", "ops", role_claim="yb_role")
    assert (await auth.authenticate(token)).role == "ops"
    other = mint_dev_token(config.dev_secret, "u1", "ops", role_claim="yb_role")
    with pytest.raises(AuthenticationError, match="signature"):
        await auth.authenticate(other)
    await auth.aclose()


def test_dev_provider_without_a_secret_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"^auth\.dev_secret"):
        build_authenticator(AuthConfig(provider="dev"), "")


async def test_jwt_provider_with_a_secret_checks_issuer_and_audience() -> None:
    import jwt

    config = AuthConfig(provider="jwt", jwt_secret=SECRET, issuer="iss", audience="aud")
    auth = build_authenticator(config, "unused")
    assert isinstance(auth, JwtAuthenticator)
    good = jwt.encode({"sub": "u", "exp": 4_000_000_000, "iss": "iss", "aud": "aud"}, SECRET)
    assert (await auth.authenticate(good)).uid == "u"
    bad = jwt.encode({"sub": "u", "exp": 4_000_000_000, "iss": "iss", "aud": "x"}, SECRET)
    with pytest.raises(AuthenticationError, match=r"^token audience is wrong: expected aud$"):
        await auth.authenticate(bad)


async def test_firebase_provider_uses_the_configured_project_url_and_shared_client(
    key_server: KeyServer, rsa_key: rsa.RSAPrivateKey
) -> None:
    import time

    key_server.serve_certs({"k1": self_signed_pem(rsa_key)})
    config = AuthConfig(provider="firebase", firebase_project_id=PROJECT,
                        firebase_cert_url=key_server.url, role_claim="yb_role")
    async with httpx.AsyncClient() as client:
        auth = build_authenticator(config, "unused", http=client)
        assert isinstance(auth, FirebaseAuthenticator)
        creds = await auth.authenticate(sign(rsa_key, firebase_claims(time.time(),
                                                                      yb_role="ops")))
        assert (creds.uid, creds.role) == ("rider-42", "ops")
        assert key_server.requests == 1
        await auth.aclose()
        assert not client.is_closed
