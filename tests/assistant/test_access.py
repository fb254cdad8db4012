"""Who may call: tokens of every provider (dev is the rest of these tests': here jwt with a
JWKS and firebase with Google-style certificates, from a local key server), and API keys
held to their scopes and channels, as at every other door."""

from __future__ import annotations

import time
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from mcp.shared.exceptions import MCPError

from tests.apiclients import KEYS
from tests.assistant.conftest import Session, open_session, token
from tests.auth.support import (
    FIREBASE_ISSUER,
    PROJECT,
    KeyServer,
    firebase_claims,
    rsa_jwk,
    self_signed_pem,
    sign,
)
from tests.conftest import MakeGateway, gateway_config
from yellowbox_realtime.app import Gateway
from yellowbox_realtime.messages import Credentials

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


async def fleet_total(gateway: Gateway, credential: str) -> int:
    async with open_session(gateway.url, credential) as client:
        result = await client.call_tool("fleet_overview", {})
        assert not result.is_error, result.content
        assert result.structured_content is not None
        total: int = result.structured_content["riders"]["total"]
        return total


async def refused(gateway: Gateway, credential: str) -> str:
    async with open_session(gateway.url, credential) as client:
        result = await client.call_tool("fleet_overview", {})
        assert result.is_error
        return getattr(result.content[0], "text", "")


async def test_a_jwt_from_a_jwks_is_checked_against_the_policy(
        make_gateway: MakeGateway, key_server: KeyServer) -> None:
    key_server.serve_jwks([rsa_jwk(KEY, "k1")])
    gateway = await make_gateway(gateway_config(auth={
        "provider": "jwt", "jwks_url": key_server.url, "issuer": "https://issuer.test"}))
    now = int(time.time())
    claims = {"iss": "https://issuer.test", "iat": now, "exp": now + 600}
    assert await fleet_total(gateway, sign(KEY, {**claims, "sub": "ops-1",
                                                 "role": "operations"})) == 0
    assert "forbidden" in await refused(gateway, sign(KEY, {**claims, "sub": "rider-1"}))
    with pytest.RaisesGroup(MCPError, flatten_subgroups=True):  # 401, expired
        await fleet_total(gateway, sign(KEY, {**claims, "sub": "x", "exp": now - 600}))


async def test_a_firebase_id_token_is_checked_against_the_policy(
        make_gateway: MakeGateway, key_server: KeyServer) -> None:
    key_server.serve_certs({"k1": self_signed_pem(KEY)})
    gateway = await make_gateway(gateway_config(auth={
        "provider": "firebase", "firebase_project_id": PROJECT,
        "firebase_cert_url": key_server.url}))
    now = time.time()
    ops = firebase_claims(now, sub="ops-1", user_id="ops-1", role="operations")
    assert ops["iss"] == FIREBASE_ISSUER
    assert await fleet_total(gateway, sign(KEY, ops)) == 0
    assert "forbidden" in await refused(gateway, sign(KEY, firebase_claims(now)))


async def test_an_api_key_is_held_to_its_scopes_and_channels(any_session: Session) -> None:
    async with any_session(KEYS["users-only"][0]) as client:
        # publish on user: channels and expense_updates, no read scope, no role: channels.
        fleet = await client.call_tool("fleet_overview", {})
        assert fleet.is_error
        assert "lacks the 'read' scope" in getattr(fleet.content[0], "text", "")
        to_user = await client.call_tool("send_notification", {
            "to": "user", "target": "rider-2", "data": "hello"})
        assert not to_user.is_error
        to_role = await client.call_tool("send_notification", {
            "to": "role", "target": "rider", "data": "hello"})
        assert to_role.is_error
        assert "may not use channel 'role:rider'" in getattr(to_role.content[0], "text", "")
        expense = await client.call_tool("change_expense_status", {"expense": {
            "expenseId": "exp-2", "status": "paid", "amount": 3}})
        assert not expense.is_error
        orders = await client.call_tool("change_order_status", {"order": {
            "orderId": "ord-2", "status": "assigned", "amount": 3}})
        assert orders.is_error
    async with any_session(KEYS["reader"][0]) as client:
        history = await client.call_tool("channel_history", {"channel": "alerts"})
        assert not history.is_error
        ack = await client.call_tool("acknowledge_alert", {"alert_id": "al_x"})
        assert ack.is_error
        assert "lacks the 'alerts' scope" in getattr(ack.content[0], "text", "")


# What each tool does, as the policy table names it: ("subscribe", channel) to read, or
# ("publish", event) to change; a tool needing several needs them all.
NEEDS: dict[str, tuple[tuple[str, str], ...]] = {
    "fleet_overview": (("subscribe", "fleet"),),
    "rider_status": (("subscribe", "fleet"),),
    "riders_near": (("subscribe", "fleet"),),
    "riders_in_geofence": (("subscribe", "fleet"), ("subscribe", "geofences")),
    "open_alerts": (("subscribe", "alerts"),),
    "acknowledge_alert": (("publish", "acknowledge_alert"),),
    "list_geofences": (("subscribe", "geofences"),),
    "put_geofence": (("publish", "manage_geofences"),),
    "delete_geofence": (("publish", "manage_geofences"),),
    "change_expense_status": (("publish", "expense_status_change"),),
    "change_order_status": (("publish", "order_status_change"),),
    "channel_history": (("subscribe", "alerts"),),
    "send_notification": (("publish", "send_notification"),),
}
ARGUMENTS: dict[str, dict[str, Any]] = {
    "rider_status": {"rider_id": "rider-1"},
    "riders_near": {"latitude": 25.0, "longitude": 55.0},
    "riders_in_geofence": {"fence_id": "nowhere"},
    "acknowledge_alert": {"alert_id": "al_nope"},
    "put_geofence": {"fence": {}},
    "delete_geofence": {"fence_id": "nowhere"},
    "change_expense_status": {"expense": {}},
    "change_order_status": {"order": {}},
    "channel_history": {"channel": "alerts"},
    "send_notification": {"to": "role", "target": "rider", "data": "hi"},
}


def allowed(gateway: Gateway, who: Credentials, needs: tuple[tuple[str, str], ...]) -> bool:
    policy = gateway.policy
    return all(policy.can_subscribe(who, name) if kind == "subscribe"
               else who.role in policy.publish.get(name, frozenset())
               for kind, name in needs)


@pytest.mark.parametrize("role", ["rider", "operations", "finance", "admin"])
async def test_each_role_may_call_what_the_policy_table_gives_it(
        in_process: Gateway, role: str) -> None:
    """The arguments are mostly wrong on purpose: a permitted call then fails on them
    (not_found, validation_failed), a refused one is refused before they are looked at."""
    who = Credentials(uid=f"{role}-1", role=role)
    async with open_session(in_process.url, token(who.uid, role)) as client:
        assert {t.name for t in (await client.list_tools()).tools} == set(NEEDS)
        for name, needs in NEEDS.items():
            result = await client.call_tool(name, ARGUMENTS.get(name, {}))
            text = getattr(result.content[0], "text", "") if result.is_error else ""
            assert ("forbidden" not in text) == allowed(in_process, who, needs), (name, text)
