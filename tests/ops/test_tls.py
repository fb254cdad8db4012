"""TLS on the front for deployments without a proxy: https for the API, wss for Socket.IO,
with a self-signed certificate made for the test."""

from __future__ import annotations

import datetime
import ipaddress
import json
import ssl
from pathlib import Path

import httpx
import pytest
import websockets
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.conftest import MakeGateway, MakeToken, gateway_config
from yellowbox_realtime.app import Gateway
from yellowbox_realtime.config import Config
from yellowbox_realtime.errors import ConfigError


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and ::1, and its key (PEM files)."""
    directory = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "yellowbox-realtime test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                x509.IPAddress(ipaddress.ip_address("::1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def trusting(cert_file: Path, *, maximum: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(cert_file))
    if maximum is not None:
        context.maximum_version = maximum
    return context


async def tls_gateway(make_gateway: MakeGateway, certificate: tuple[Path, Path],
                      **server: object) -> Gateway:
    cert_file, key_file = certificate
    return await make_gateway(gateway_config(server={
        "tls_cert_file": str(cert_file), "tls_key_file": str(key_file), **server}))


async def test_https_and_wss_with_the_certificate(
        make_gateway: MakeGateway, make_token: MakeToken,
        certificate: tuple[Path, Path]) -> None:
    gateway = await tls_gateway(make_gateway, certificate)
    assert gateway.url.startswith("https://127.0.0.1:")
    async with httpx.AsyncClient(verify=trusting(certificate[0])) as https:
        health = await https.get(f"{gateway.url}/healthz")
    assert health.status_code == 200
    assert health.json()["status"] == "ok"

    url = f"wss://127.0.0.1:{gateway.port}/socket.io/?EIO=4&transport=websocket"
    async with websockets.connect(url, ssl=trusting(certificate[0])) as ws:
        opened = await ws.recv()
        assert isinstance(opened, str)
        assert opened.startswith("0{")
        await ws.send("40" + json.dumps({"token": make_token("rider-1", "rider")}))
        joined = await ws.recv()
        assert isinstance(joined, str)
        assert joined.startswith('40{"sid"')


async def test_an_untrusted_or_plain_client_gets_nothing(
        make_gateway: MakeGateway, certificate: tuple[Path, Path]) -> None:
    gateway = await tls_gateway(make_gateway, certificate)
    async with httpx.AsyncClient() as default_trust:  # the system's CAs only
        with pytest.raises(httpx.ConnectError):
            await default_trust.get(f"{gateway.url}/healthz")
    async with httpx.AsyncClient() as plain:
        with pytest.raises(httpx.HTTPError):
            await plain.get(f"http://127.0.0.1:{gateway.port}/healthz")


async def test_the_minimum_version_is_enforced(
        make_gateway: MakeGateway, certificate: tuple[Path, Path]) -> None:
    gateway = await tls_gateway(make_gateway, certificate, tls_min_version="1.3")
    old = trusting(certificate[0], maximum=ssl.TLSVersion.TLSv1_2)
    async with httpx.AsyncClient(verify=old) as https:
        with pytest.raises(httpx.ConnectError):
            await https.get(f"{gateway.url}/healthz")
    async with httpx.AsyncClient(verify=trusting(certificate[0])) as https:
        assert (await https.get(f"{gateway.url}/healthz")).status_code == 200


async def test_files_that_cannot_be_loaded_stop_the_start(
        make_gateway: MakeGateway, certificate: tuple[Path, Path], tmp_path: Path) -> None:
    (tmp_path / "empty.pem").write_text("")
    with pytest.raises(ConfigError, match=r"server\.tls_cert_file"):
        await make_gateway(gateway_config(server={
            "tls_cert_file": str(tmp_path / "empty.pem"),
            "tls_key_file": str(certificate[1])}))
    with pytest.raises(ConfigError, match=r"server\.tls_cert_file"):
        await make_gateway(gateway_config(server={
            "tls_cert_file": str(tmp_path / "missing.pem"),
            "tls_key_file": str(certificate[1])}))


@pytest.mark.parametrize("server", [{"tls_cert_file": "c.pem"}, {"tls_key_file": "k.pem"},
                                    {"tls_cert_file": "c.pem", "tls_key_file": "k.pem",
                                     "tls_min_version": "1.1"}])
def test_tls_settings_are_checked(server: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match=r"server\.tls_"):
        Config.from_mapping({"server": server})


async def test_the_own_origin_over_tls_is_https(
        make_gateway: MakeGateway, certificate: tuple[Path, Path]) -> None:
    gateway = await tls_gateway(make_gateway, certificate, allowed_origins=[])
    polling = f"{gateway.url}/socket.io/?EIO=4&transport=polling"
    async with httpx.AsyncClient(verify=trusting(certificate[0])) as https:
        own = await https.get(polling, headers={"Origin": f"https://localhost:{gateway.port}"})
        plain = await https.get(polling, headers={"Origin": f"http://localhost:{gateway.port}"})
    assert own.status_code == 200
    assert plain.status_code == 403
