"""No user can push out everyone else's recovery records: a user whose sockets leave in a
loop keeps at most its share of the table, and another user's socket still comes back
whole."""

from __future__ import annotations

import json

import aiohttp

from tests.conftest import MakeGateway, MakeToken, gateway_config
from tests.limits.support import ws_join, ws_session
from tests.waiting import until
from yellowbox_realtime.core.recovery import RecoveryStore
from yellowbox_realtime.server.socketio import SocketIOServer

LEAVES = 40


async def test_one_user_leaving_in_a_loop_keeps_only_its_share_of_recovery_records(
        make_gateway: MakeGateway, make_token: MakeToken) -> None:
    gateway = await make_gateway(gateway_config(history={
        "max_recovery_sessions": 30, "max_recovery_sessions_per_user": 5}))
    assert gateway.engine is not None
    sio = gateway.engine.handler
    assert isinstance(sio, SocketIOServer)
    store = sio.recovery
    assert isinstance(store, RecoveryStore)
    ops = make_token("ops-1", "operations")
    rider = make_token("rider-1", "rider")
    async with aiohttp.ClientSession() as http:
        victim = await ws_session(http, gateway.url)
        first = json.loads((await ws_join(victim, ops))[2:])
        await victim.close()  # a transport close: recoverable
        await until(lambda: store.held_by("ops-1") == 1)
        for _ in range(LEAVES):
            ws = await ws_session(http, gateway.url)
            assert (await ws_join(ws, rider)).startswith('40{"sid"')
            await ws.close()
        await until(lambda: not gateway.main.sockets)
        # What the table holds for the flooder: its share, of 40 left.
        assert store.held_by("rider-1") == 5
        assert len(store) == 6
        # The other user comes back whole.
        again = await ws_session(http, gateway.url)
        await again.send_str("40" + json.dumps({"token": ops, "pid": first["pid"]}))
        answer = await again.receive_str(timeout=5)
        assert json.loads(answer[2:])["sid"] == first["sid"]
        await again.close()
