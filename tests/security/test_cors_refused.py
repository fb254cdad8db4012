"""A refused Origin gets its 403 without any CORS allow header, on every transport and
route, so a browser never lets that origin read the refusal (nor anything else); an allowed
origin is served with them as before."""

from __future__ import annotations

import base64
import secrets

import httpx
import pytest

from tests.apiclients import BACKOFFICE, api_section
from tests.conftest import MakeGateway, gateway_config
from yellowbox_realtime.app import Gateway

ALLOWED = "https://app.yellowbox.example"
REFUSED = "https://evil.example"


def websocket_upgrade() -> dict[str, str]:
    return {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": base64.b64encode(secrets.token_bytes(16)).decode()}


# (method, path, extra headers, body): every way in a browser can reach.
REQUESTS = [
    ("GET", "/socket.io/?EIO=4&transport=polling", {}, None),
    ("POST", "/socket.io/?EIO=4&transport=polling&sid=x", {}, b"1"),
    ("OPTIONS", "/socket.io/?EIO=4&transport=polling",
     {"Access-Control-Request-Method": "POST"}, None),
    ("GET", "/socket.io/?EIO=4&transport=websocket", websocket_upgrade(), None),
    ("GET", "/sse", {}, None),
    ("POST", "/sse/tickets", {"Authorization": "Bearer x"}, b""),
    ("OPTIONS", "/sse/tickets", {"Access-Control-Request-Method": "POST"}, None),
    ("GET", "/healthz", {}, None),
    ("GET", "/readyz", {}, None),
    ("POST", "/api/v1/publish", {"Authorization": f"Bearer {BACKOFFICE}"}, b"{}"),
    ("OPTIONS", "/api/v1/publish", {"Access-Control-Request-Method": "POST"}, None),
]


@pytest.fixture
async def guarded(make_gateway: MakeGateway) -> Gateway:
    return await make_gateway(gateway_config(server={"allowed_origins": [ALLOWED]},
                                             api=api_section()))


@pytest.mark.parametrize(("method", "path", "headers", "body"), REQUESTS)
async def test_a_refused_origin_gets_no_cors_allow_header(
        guarded: Gateway, method: str, path: str, headers: dict[str, str],
        body: bytes | None) -> None:
    async with httpx.AsyncClient() as client:
        refused = await client.request(method, guarded.url + path, content=body,
                                       headers={"Origin": REFUSED, **headers})
        cors = {name: value for name, value in refused.headers.items()
                if name.lower().startswith("access-control-")}
        assert cors == {}, (refused.status_code, cors)
        if path.startswith(("/socket.io/", "/sse")):
            assert refused.status_code == 403
        # Another origin's browser is served meanwhile, and told it may read the answer.
        served = await client.get(guarded.url + "/socket.io/?EIO=4&transport=polling",
                                  headers={"Origin": ALLOWED})
        assert served.status_code == 200
        assert served.headers["access-control-allow-origin"] == ALLOWED
        assert served.headers["access-control-allow-credentials"] == "true"
