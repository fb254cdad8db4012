"""Helpers for the auth tests: a controllable clock, a local key server and token builders."""

from __future__ import annotations

import asyncio
import base64
import datetime
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from typing import Any

import jwt
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.x509.oid import NameOID
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

NOW = 1_700_000_000.0
PROJECT = "yellowbox-test"
FIREBASE_ISSUER = f"https://securetoken.google.com/{PROJECT}"


class FakeClock:
    """A clock the test moves by hand, so cache expiry needs no sleeping."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class KeyServer:
    """A key server on 127.0.0.1 that counts requests and can be told to hold them."""

    def __init__(self) -> None:
        self.body = b"{}"
        self.status = 200
        self.headers: dict[str, str] = {"Cache-Control": "public, max-age=600"}
        self.requests = 0
        self.entered = asyncio.Event()
        # When set, requests wait on this event before answering.
        self.gate: asyncio.Event | None = None
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/keys", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}/keys"

    async def stop(self) -> None:
        # A request held at the gate would keep the runner's cleanup waiting.
        if self.gate is not None:
            self.gate.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def serve_certs(self, certs: dict[str, str]) -> None:
        """Publish PEM certificates in Google's format: {kid: pem}."""
        self.body = json.dumps(certs).encode()

    def serve_jwks(self, jwks: list[dict[str, Any]]) -> None:
        self.body = json.dumps({"keys": jwks}).encode()

    async def _handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        headers = {"Content-Type": "application/json", **self.headers}
        return web.Response(body=self.body, status=self.status, headers=headers)


def self_signed_pem(key: RSAPrivateKey | EllipticCurvePrivateKey) -> str:
    """A self-signed X.509 certificate for ``key``, like the ones Google publishes."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "securetoken.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def rsa_jwk(key: RSAPrivateKey, kid: str, **extra: str) -> dict[str, Any]:
    return {**RSAAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": kid, "use": "sig",
            "alg": "RS256", **extra}


def ec_jwk(key: EllipticCurvePrivateKey, kid: str) -> dict[str, Any]:
    return {**ECAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": kid, "use": "sig",
            "alg": "ES256"}


def public_pem(key: RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


def firebase_claims(now: float = NOW, *, drop: tuple[str, ...] = (),
                    **overrides: Any) -> dict[str, Any]:
    """Claims of a valid Firebase ID token for PROJECT issued just before ``now``."""
    claims: dict[str, Any] = {
        "iss": FIREBASE_ISSUER,
        "aud": PROJECT,
        "sub": "rider-42",
        "user_id": "rider-42",
        "iat": int(now) - 60,
        "auth_time": int(now) - 120,
        "exp": int(now) + 3600,
    }
    claims.update(overrides)
    for name in drop:
        del claims[name]
    return claims


def sign(key: Any, claims: dict[str, Any], *, kid: str | None = "k1",
         alg: str = "RS256") -> str:
    """A token signed by PyJWT, independent of the code under test."""
    headers = {"kid": kid} if kid is not None else None
    return jwt.encode(claims, key, algorithm=alg, headers=headers)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def raw_token(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    """A token assembled by hand, for headers and signatures PyJWT refuses to produce."""
    return ".".join([b64(json.dumps(header).encode()), b64(json.dumps(claims).encode()),
                     b64(signature)])


def hs256_with(secret: bytes, header: dict[str, Any], claims: dict[str, Any]) -> str:
    """An HS256 token keyed with arbitrary bytes (such as a public key's PEM)."""
    signing_input = ".".join([b64(json.dumps(header).encode()),
                              b64(json.dumps(claims).encode())])
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


@pytest.fixture
async def key_server() -> AsyncIterator[KeyServer]:
    """A JWKS server on loopback (loaded for every test by ``tests/conftest.py``)."""
    server = KeyServer()
    await server.start()
    yield server
    await server.stop()
