"""Every tool, called through the official SDK's clients on a real ``serve``, over
streamable HTTP and through the stdio relay: typed results, the same policy as every other
door, errors an assistant can read."""

from __future__ import annotations

import asyncio
from typing import Any

import socketio
from mcp.client.session import ClientSession

from tests.assistant.conftest import ASSISTANT_KEY, Rider, Session, token
from tests.processes import GatewayProcess

TOOLS = {"fleet_overview", "rider_status", "riders_near", "riders_in_geofence", "open_alerts",
         "acknowledge_alert", "list_geofences", "put_geofence", "delete_geofence",
         "change_expense_status", "change_order_status", "channel_history",
         "send_notification"}
MARINA = (25.08, 55.14)


async def call(client: ClientSession, name: str, **arguments: Any) -> dict[str, Any]:
    """A tool's structured result; the call must succeed."""
    result = await client.call_tool(name, arguments)
    assert not result.is_error, result.content
    structured: dict[str, Any] | None = result.structured_content
    assert structured is not None
    return structured


async def refusal(client: ClientSession, name: str, **arguments: Any) -> str:
    """A tool error's text (the call must fail)."""
    result = await client.call_tool(name, arguments)
    assert result.is_error
    text = result.content[0]
    assert text.type == "text"
    return text.text


async def test_every_tool_is_listed_with_input_and_output_schemas(any_session: Session) -> None:
    async with any_session(token("ops-1")) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools) == TOOLS
    for tool in tools.values():
        assert tool.description, tool.name
        assert tool.input_schema["type"] == "object"
        assert tool.output_schema is not None
        assert tool.output_schema["type"] == "object"
    assert tools["riders_near"].input_schema["required"] == ["latitude", "longitude"]
    assert tools["riders_near"].input_schema["properties"]["latitude"]["maximum"] == 90
    kinds = tools["open_alerts"].input_schema["properties"]["kind"]["anyOf"][0]["enum"]
    assert "sos" in kinds


async def test_the_fleet_tools_see_a_rider_move(any_session: Session, rider: Rider) -> None:
    await rider.move(*MARINA)
    async with any_session(token("ops-1")) as client:
        overview = await call(client, "fleet_overview")
        assert overview["riders"]["online"] == 1
        status = (await call(client, "rider_status", rider_id="rider-1"))["rider"]
        assert (status["riderId"], status["status"]) == ("rider-1", "online")
        assert (status["latitude"], status["longitude"]) == MARINA
        missing = await refusal(client, "rider_status", rider_id="rider-9")
        assert "not_found" in missing

        near = await call(client, "riders_near", latitude=25.081, longitude=55.14,
                          radius_m=500)
        assert near["count"] == 1
        assert near["riders"][0]["riderId"] == "rider-1"
        assert 100 < near["riders"][0]["distanceM"] < 120
        far = await call(client, "riders_near", latitude=25.2, longitude=55.27, radius_m=500)
        assert far == {"riders": [], "count": 0}


async def test_geofences_are_put_listed_queried_and_deleted(any_session: Session,
                                                             rider: Rider) -> None:
    fence = {"id": "marina", "name": "Dubai Marina", "kind": "zone",
             "circle": {"latitude": MARINA[0], "longitude": MARINA[1], "radius": 800}}
    async with any_session(token("ops-1")) as client:
        put = await call(client, "put_geofence", fence=fence)
        assert put["created"] is True
        assert put["fence"]["id"] == "marina"
        again = await call(client, "put_geofence", fence={**fence, "name": "The Marina"})
        assert again["created"] is False
        listed = await call(client, "list_geofences")
        assert [(f["id"], f["name"]) for f in listed["fences"]] == [("marina", "The Marina")]

        await rider.move(MARINA[0] + 0.001, MARINA[1])
        inside = await call(client, "riders_in_geofence", fence_id="marina")
        assert [r["riderId"] for r in inside["riders"]] == ["rider-1"]
        assert "not_found" in await refusal(client, "riders_in_geofence", fence_id="nowhere")
        bad = await refusal(client, "put_geofence", fence={**fence, "kind": "lake"})
        assert bad.count("validation_failed") == 1
        assert "kind" in bad

        assert await call(client, "delete_geofence", fence_id="marina") == {"deleted": "marina"}
        assert (await call(client, "list_geofences"))["fences"] == []
        assert "not_found" in await refusal(client, "delete_geofence", fence_id="marina")


async def test_alerts_are_filtered_and_acknowledged(any_session: Session, rider: Rider) -> None:
    await rider.move(*MARINA)
    sos = await rider.sos(*MARINA)
    async with any_session(token("ops-1")) as client:
        alerts = (await call(client, "open_alerts", kind="sos"))["alerts"]
        assert [a["id"] for a in alerts] == [sos["alertId"]]
        assert (await call(client, "open_alerts", kind="speeding"))["alerts"] == []
        assert (await call(client, "open_alerts", rider_id="rider-2"))["alerts"] == []
        assert len((await call(client, "open_alerts", severity="critical"))["alerts"]) == 1

        acked = (await call(client, "acknowledge_alert", alert_id=sos["alertId"]))["alert"]
        assert (acked["acknowledged"], acked["acknowledgedBy"]) == (True, "ops-1")
        assert (await call(client, "open_alerts"))["alerts"] == []
        every = await call(client, "open_alerts", include_acknowledged=True)
        assert [a["id"] for a in every["alerts"]] == [sos["alertId"]]
        assert "not_found" in await refusal(client, "acknowledge_alert", alert_id="al_nope")


async def test_the_back_office_changes_expenses_and_orders(any_session: Session) -> None:
    async with any_session(token("fin-1", "finance")) as client:
        expense = await call(client, "change_expense_status", expense={
            "expenseId": "exp-1", "status": "approved", "amount": 42.5, "riderId": "rider-1"})
        assert (expense["change"]["expenseId"], expense["change"]["status"]) == (
            "exp-1", "approved")
        assert ":" in expense["id"]
        order = await call(client, "change_order_status", order={
            "orderId": "ord-1", "status": "delivered", "amount": 12})
        assert order["change"]["status"] == "delivered"
        wrong = await refusal(client, "change_order_status", order={
            "orderId": "ord-1", "status": "lost", "amount": 12})
        assert "validation_failed" in wrong
        assert "status" in wrong
    # Operations may move orders along but not approve expenses, as over Socket.IO.
    async with any_session(token("ops-1")) as client:
        assert "forbidden" in await refusal(client, "change_expense_status", expense={
            "expenseId": "exp-1", "status": "paid", "amount": 42.5})


async def test_a_notification_reaches_the_user_and_the_channel_history(
        any_session: Session, served: GatewayProcess) -> None:
    received: asyncio.Queue[Any] = asyncio.Queue()
    device = socketio.AsyncClient(reconnection=False)

    async def notified(data: Any, *_offset: Any) -> None:
        await received.put(data)

    device.on("notification", notified)
    await device.connect(served.url, auth={"token": token("rider-2", "rider")},
                         transports=["websocket"], wait_timeout=10)
    try:
        async with any_session(ASSISTANT_KEY) as client:
            sent = await call(client, "send_notification", to="user", target="rider-2",
                              data={"title": "Come back to the depot"})
            assert (sent["channel"], sent["event"]) == ("user:rider-2", "notification")
            assert await asyncio.wait_for(received.get(), 10) == {
                "title": "Come back to the depot"}

            history = await call(client, "channel_history", channel="user:rider-2")
            assert [e["id"] for e in history["entries"]] == [sent["id"]]
            assert history["more"] is False
            after = await call(client, "channel_history", channel="user:rider-2",
                               since=sent["id"])
            assert after["entries"] == []
            assert "bad_request" in await refusal(
                client, "send_notification", to="user", target="no spaces allowed", data=1)
    finally:
        await device.disconnect()


async def test_a_rider_token_is_refused_what_a_rider_may_not_do(any_session: Session) -> None:
    async with any_session(token("rider-1", "rider")) as client:
        for name, arguments in [("fleet_overview", {}), ("open_alerts", {}),
                                ("acknowledge_alert", {"alert_id": "al_x"}),
                                ("list_geofences", {}), ("channel_history",
                                                         {"channel": "alerts"}),
                                ("send_notification", {"to": "role", "target": "rider",
                                                       "data": "hi"})]:
            text = await refusal(client, name, **arguments)
            assert "forbidden" in text, (name, text)
        # What is the rider's own it may read, as over Socket.IO.
        own = await call(client, "channel_history", channel="user:rider-1")
        assert own["entries"] == []
