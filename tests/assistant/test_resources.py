"""The resources (read after the same check as their channels) and the prompts."""

from __future__ import annotations

import json
from typing import Any

import pytest
from mcp.client.session import ClientSession
from mcp.shared.exceptions import MCPError

from tests.assistant.conftest import ASSISTANT_KEY, Rider, Session, token
from yellowbox_realtime.assistant.access import REFUSED
from yellowbox_realtime.assistant.resources import (
    ALERTS_URI,
    DASHBOARD_URI,
    FLEET_URI,
    rider_uri,
)


async def read(client: ClientSession, uri: str) -> Any:
    contents = (await client.read_resource(uri)).contents
    assert len(contents) == 1
    assert contents[0].mime_type == "application/json"
    text = getattr(contents[0], "text", None)
    assert isinstance(text, str)
    return json.loads(text)


async def test_the_resources_are_listed_and_read(session: Session, rider: Rider) -> None:
    await rider.move(25.08, 55.14)
    sos = await rider.sos(25.08, 55.14)
    async with session(token("ops-1")) as client:
        listed = {str(r.uri) for r in (await client.list_resources()).resources}
        assert listed == {FLEET_URI, ALERTS_URI, DASHBOARD_URI}
        templates = (await client.list_resource_templates()).resource_templates
        assert [t.uri_template for t in templates] == ["yellowbox://riders/{rider_id}"]

        fleet = await read(client, FLEET_URI)
        assert [r["riderId"] for r in fleet["riders"]] == ["rider-1"]
        alerts = await read(client, ALERTS_URI)
        assert [a["id"] for a in alerts["alerts"]] == [sos["alertId"]]
        assert alerts["open"] == 1
        dashboard = await read(client, DASHBOARD_URI)
        assert dashboard["riders"]["online"] == 1
        one = await read(client, rider_uri("rider-1"))
        assert (one["riderId"], one["latitude"]) == ("rider-1", 25.08)
        with pytest.raises(MCPError, match="not_found"):
            await client.read_resource(rider_uri("rider-9"))


async def test_a_rider_or_a_key_without_the_scope_may_not_read_them(session: Session) -> None:
    async with session(token("rider-1", "rider")) as client:
        for uri in (FLEET_URI, ALERTS_URI, DASHBOARD_URI, rider_uri("rider-1")):
            with pytest.raises(MCPError, match="forbidden") as refused:
                await client.read_resource(uri)
            assert refused.value.error.code == REFUSED
    async with session(token("fin-1", "finance")) as client:
        assert "riders" in await read(client, DASHBOARD_URI)  # the dashboard is finance's too
        with pytest.raises(MCPError, match="forbidden"):
            await client.read_resource(FLEET_URI)
    async with session(ASSISTANT_KEY) as client:
        assert (await read(client, FLEET_URI))["riders"] == []


async def test_the_prompts_are_listed_and_filled_in(session: Session) -> None:
    async with session(token("ops-1")) as client:
        prompts = {p.name: p for p in (await client.list_prompts()).prompts}
        assert set(prompts) == {"fleet_briefing", "investigate_rider"}
        arguments = prompts["investigate_rider"].arguments or []
        assert [(a.name, a.required) for a in arguments] == [("rider_id", True)]
        prompt = await client.get_prompt("investigate_rider", {"rider_id": "rider-7"})
        text = prompt.messages[0].content
        assert text.type == "text"
        assert "rider-7" in text.text
        assert "rider_status" in text.text
