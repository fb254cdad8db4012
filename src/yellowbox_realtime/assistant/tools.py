"""The MCP tools: the operations services, checked against the caller like every door.

Each tool reads or changes through :class:`~..operations.Operations` and the publish API's
service methods, after the same check the HTTP API makes (reading is subscribing to the
channel, changing is publishing the action; an API key needs the scope). A refused or
invalid call answers as a tool error (``isError``) whose text starts with the gateway's
error code (``forbidden: ...``, ``not_found: ...``); arguments that do not match the input
schema are refused by the SDK before a tool runs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import wraps
from typing import Annotated, Any, Literal, ParamSpec, TypeVar

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field

from ..api.keys import actor
from ..api.publish import PublishApi
from ..api.validation import (
    EventBody,
    check_channel,
    check_event,
    check_role,
    check_uid,
    encode_data,
    parse_since,
)
from ..core.channels import role_channel, user_channel
from ..domain.alerts import AlertKind, Severity
from ..domain.geo import LatLon, haversine_m
from ..domain.geofence_config import fence_from_data, fence_to_data
from ..errors import GatewayError
from ..operations import ALERTS, EXPENSE_UPDATES, FLEET, GEOFENCES, ORDERS, Operations
from .access import Access, caller_of, describe, principal

__all__ = ["Services", "register_tools"]

P = ParamSpec("P")
R = TypeVar("R")

MAX_RESULTS = 1000
Limit = Annotated[int, Field(ge=1, le=MAX_RESULTS, description="at most this many")]
Latitude = Annotated[float, Field(ge=-90, le=90)]
Longitude = Annotated[float, Field(ge=-180, le=180)]


@dataclass(frozen=True, slots=True)
class Services:
    operations: Operations
    publish: PublishApi
    access: Access
    max_payload: int


class FleetOverview(BaseModel):
    riders: dict[str, int] = Field(description="riders by status (online, stale, offline), "
                                   "active (online) and total")
    eventsPerSecond: float
    connections: dict[str, int]
    openAlerts: int
    at: str


class Rider(BaseModel):
    rider: dict[str, Any] = Field(description="riderId, status and the last fix (latitude, "
                                  "longitude, timestamp, speed, heading, accuracy ...)")


class Riders(BaseModel):
    riders: list[dict[str, Any]]
    count: int


class Alerts(BaseModel):
    alerts: list[dict[str, Any]]


class AlertResult(BaseModel):
    alert: dict[str, Any]


class Geofences(BaseModel):
    fences: list[dict[str, Any]]


class GeofencePut(BaseModel):
    fence: dict[str, Any]
    created: bool


class GeofenceDeleted(BaseModel):
    deleted: str


class Change(BaseModel):
    id: str = Field(description="the event's id <epoch>:<offset>")
    change: dict[str, Any] = Field(description="the change as published")


class History(BaseModel):
    entries: list[dict[str, Any]]
    complete: bool = Field(description="false: older entries have expired")
    position: str = Field(description="pass as since to read on")
    more: bool


class Sent(BaseModel):
    id: str
    channel: str
    event: str


def gateway_errors(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """The gateway's errors as tool errors, so the assistant reads why."""

    @wraps(fn)
    async def call(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except GatewayError as exc:
            raise ToolError(describe(exc)) from exc

    return call


def register_tools(mcp: MCPServer[Any], s: Services) -> None:
    ops, access = s.operations, s.access

    @mcp.tool(title="Fleet overview")
    @gateway_errors
    async def fleet_overview(ctx: Context) -> FleetOverview:
        """Riders by status, events per second, connections and open alerts, right now."""
        access.check_read(caller_of(ctx.request_context.request), FLEET, "read")
        metrics = ops.metrics()
        return FleetOverview(riders=metrics["riders"],
                             eventsPerSecond=metrics["eventsPerSecond"],
                             connections=metrics["connections"],
                             openAlerts=metrics["alerts"]["open"], at=metrics["at"])

    @mcp.tool(title="Rider status")
    @gateway_errors
    async def rider_status(ctx: Context, rider_id: Annotated[str, Field(
            min_length=1, max_length=128)]) -> Rider:
        """One rider's status (online, stale, offline) and last position fix."""
        access.check_read(caller_of(ctx.request_context.request), FLEET, "read")
        view = ops.fleet.view(rider_id)
        if view is None:
            raise ToolError(f"not_found: no rider {rider_id!r} has reported a position")
        return Rider(rider=view)

    @mcp.tool(title="Riders near a point")
    @gateway_errors
    async def riders_near(ctx: Context, latitude: Latitude, longitude: Longitude,
                          radius_m: Annotated[float, Field(gt=0, le=100_000)] = 1000.0,
                          limit: Limit = 50) -> Riders:
        """Riders whose last fix is within radius_m metres of the point, nearest first."""
        access.check_read(caller_of(ctx.request_context.request), FLEET, "read")
        centre = LatLon(latitude, longitude)
        near = []
        for view in ops.fleet.snapshot():
            distance = haversine_m(centre, LatLon(view["latitude"], view["longitude"]))
            if distance <= radius_m:
                near.append({**view, "distanceM": round(distance, 1)})
        near.sort(key=lambda v: v["distanceM"])
        return Riders(riders=near[:limit], count=len(near))

    @mcp.tool(title="Riders inside a geofence")
    @gateway_errors
    async def riders_in_geofence(ctx: Context, fence_id: str, limit: Limit = 100) -> Riders:
        """Riders inside the geofence as of their last fix."""
        caller = caller_of(ctx.request_context.request)
        access.check_read(caller, FLEET, "read")
        access.check_read(caller, GEOFENCES, "geofences")
        ops.geofences.get(fence_id)  # not_found for an unknown fence
        inside = [v for v in ops.fleet.snapshot()
                  if fence_id in ops.geofences.inside(str(v["riderId"]))]
        return Riders(riders=inside[:limit], count=len(inside))

    @mcp.tool(title="Alerts")
    @gateway_errors
    async def open_alerts(ctx: Context, kind: AlertKind | None = None,
                          rider_id: str | None = None, severity: Severity | None = None,
                          include_acknowledged: bool = False, limit: Limit = 100) -> Alerts:
        """The newest alerts, open only unless include_acknowledged; filter by kind, rider
        or severity."""
        access.check_read(caller_of(ctx.request_context.request), ALERTS, "alerts")
        wires = [a.to_wire() for a in ops.alerts.recent(ops.config.max_alerts,
                                                        open_only=not include_acknowledged)
                 if (kind is None or a.kind == kind)
                 and (rider_id is None or a.rider_id == rider_id)
                 and (severity is None or a.severity == severity)]
        return Alerts(alerts=wires[:limit])

    @mcp.tool(title="Acknowledge an alert")
    @gateway_errors
    async def acknowledge_alert(ctx: Context, alert_id: str) -> AlertResult:
        """Mark an alert acknowledged by the caller; every dashboard sees it."""
        caller = caller_of(ctx.request_context.request)
        access.check_change(caller, "acknowledge_alert", "alerts", ALERTS)
        return AlertResult(alert=(await ops.acknowledge(alert_id, actor(caller))).to_wire())

    @mcp.tool(title="Geofences")
    @gateway_errors
    async def list_geofences(ctx: Context) -> Geofences:
        """Every geofence (zones and no-go areas) with its shape."""
        access.check_read(caller_of(ctx.request_context.request), GEOFENCES, "geofences")
        return Geofences(fences=ops.geofences_snapshot()["fences"])

    @mcp.tool(title="Add or replace a geofence")
    @gateway_errors
    async def put_geofence(ctx: Context, fence: dict[str, Any]) -> GeofencePut:
        """Add or replace a geofence: {id, name, kind (zone, depot, no_go), and circle:
        {latitude, longitude, radius (metres)} or polygon: [{latitude, longitude}, ...]}."""
        access.check_change(caller_of(ctx.request_context.request), "manage_geofences",
                            "geofences", GEOFENCES)
        parsed = fence_from_data(fence)
        created = await ops.put_fence(parsed)
        return GeofencePut(fence=fence_to_data(parsed), created=created)

    @mcp.tool(title="Delete a geofence")
    @gateway_errors
    async def delete_geofence(ctx: Context, fence_id: str) -> GeofenceDeleted:
        """Remove a geofence."""
        access.check_change(caller_of(ctx.request_context.request), "manage_geofences",
                            "geofences", GEOFENCES)
        await ops.delete_fence(fence_id)
        return GeofenceDeleted(deleted=fence_id)

    @mcp.tool(title="Change an expense's status")
    @gateway_errors
    async def change_expense_status(ctx: Context, expense: dict[str, Any]) -> Change:
        """Change an expense's status as the back office does: {expenseId, status
        (submitted, pending, approved, rejected, paid), amount, currency?, riderId?,
        description?}; the rider is notified."""
        access.check_change(caller_of(ctx.request_context.request), "expense_status_change",
                            "publish", EXPENSE_UPDATES)
        position, change = await ops.change_expense(expense, None)
        return Change(id=str(position), change=change)

    @mcp.tool(title="Change an order's status")
    @gateway_errors
    async def change_order_status(ctx: Context, order: dict[str, Any]) -> Change:
        """Change an order's status: {orderId, status (created, assigned, picked_up,
        delivered, cancelled), amount, currency?, riderId?}."""
        access.check_change(caller_of(ctx.request_context.request), "order_status_change",
                            "publish", ORDERS)
        position, change = await ops.change_order(order, None)
        return Change(id=str(position), change=change)

    @mcp.tool(title="A channel's recent history")
    @gateway_errors
    async def channel_history(ctx: Context, channel: str, since: str | None = None,
                              limit: Limit = 50) -> History:
        """The channel's retained events after since (an event id; none: from the oldest),
        oldest first; read on from position while more is true."""
        access.check_read(caller_of(ctx.request_context.request), channel, "history")
        return History(**await s.publish.recent(check_channel(channel), parse_since(since),
                                                limit))

    @mcp.tool(title="Send a notification")
    @gateway_errors
    async def send_notification(ctx: Context, to: Literal["user", "role"],
                                target: Annotated[str, Field(description="a user id or a "
                                                             "role name")],
                                data: Any, event: str = "notification") -> Sent:
        """Send an event (by default a notification) to one user's devices or to everyone
        with a role. Needs an API key with the publish scope on user:<id> or role:<role>
        (a person's token may only if [policy.publish] send_notification names the role)."""
        caller = caller_of(ctx.request_context.request)
        channel = user_channel(check_uid(target)) if to == "user" \
            else role_channel(check_role(target))
        access.check_change(caller, "send_notification", "publish", channel)
        body = EventBody(check_event(event), data, encode_data(data, s.max_payload))
        position = await s.publish.send(principal(caller), channel, body)
        return Sent(id=str(position), channel=channel, event=body.event)
