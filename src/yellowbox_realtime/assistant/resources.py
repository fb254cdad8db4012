"""The MCP resources (the fleet snapshot, open alerts, the dashboard's metrics, one rider)
and prompts for the questions operations ask most.

A resource is read as its SSE snapshot or HTTP API answer is, after the same check; which
channel guards which resource is :func:`guard`, which the subscription streams ask too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from mcp.server.context import CallNext, ServerRequestContext
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS

from ..api.validation import check_uid
from ..errors import GatewayError
from ..operations import ALERTS, DASHBOARD, FLEET, Operations
from .access import REFUSED, Access, caller_of, describe

__all__ = ["ALERTS_URI", "DASHBOARD_URI", "FLEET_URI", "RIDER_PREFIX", "PromptArguments",
           "ReadGuard", "guard", "register_prompts", "register_resources", "rider_uri"]

FLEET_URI = "yellowbox://fleet"
ALERTS_URI = "yellowbox://alerts/open"
DASHBOARD_URI = "yellowbox://dashboard"
RIDER_PREFIX = "yellowbox://riders/"
OPEN_ALERTS_SHOWN = 100
JSON = "application/json"


def rider_uri(rider_id: str) -> str:
    return RIDER_PREFIX + rider_id


def guard(uri: str) -> tuple[str, str] | None:
    """The channel a reader must be allowed to subscribe to (an API key: the scope it needs)
    to read ``uri``; None for a URI that is none of ours."""
    if uri == FLEET_URI or (uri.startswith(RIDER_PREFIX)
                            and _is_uid(uri.removeprefix(RIDER_PREFIX))):
        return FLEET, "read"
    if uri == ALERTS_URI:
        return ALERTS, "alerts"
    if uri == DASHBOARD_URI:
        return DASHBOARD, "read"
    return None


def _is_uid(text: str) -> bool:
    try:
        check_uid(text)
    except GatewayError:
        return False
    return True


class ReadGuard:
    """Middleware: a ``resources/read`` of one of ours needs what reading its channel needs
    (static resources cannot see the request, so the check runs before them)."""

    def __init__(self, access: Access) -> None:
        self.access = access

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> Any:
        if ctx.method == "resources/read" and isinstance(ctx.params, Mapping):
            needs = guard(str(ctx.params.get("uri", "")))
            if needs is not None:
                try:
                    self.access.check_read(caller_of(ctx.request), *needs)
                except GatewayError as exc:
                    raise MCPError(REFUSED, describe(exc)) from exc
        return await call_next(ctx)


class PromptArguments:
    """Middleware: a prompt asked for without its required arguments is the caller's error
    (invalid params, saying which), not the server's (the SDK's internal error)."""

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> Any:
        if ctx.method != "prompts/get":
            return await call_next(ctx)
        try:
            return await call_next(ctx)
        except ValueError as exc:
            raise MCPError(INVALID_PARAMS, str(exc)[:500]) from exc


def register_resources(mcp: MCPServer[Any], ops: Operations) -> None:
    @mcp.resource(FLEET_URI, name="fleet", title="Fleet snapshot", mime_type=JSON)
    def fleet() -> str:
        """Every rider's status and last fix, least recently heard from first."""
        return json.dumps(ops.fleet_snapshot())

    @mcp.resource(ALERTS_URI, name="open_alerts", title="Open alerts", mime_type=JSON)
    def open_alerts() -> str:
        """The newest open (unacknowledged) alerts."""
        alerts = ops.alerts.recent(OPEN_ALERTS_SHOWN, open_only=True)
        return json.dumps({"alerts": [a.to_wire() for a in alerts],
                           "open": ops.alerts.open_count()})

    @mcp.resource(DASHBOARD_URI, name="dashboard", title="Dashboard metrics", mime_type=JSON)
    def dashboard() -> str:
        """The dashboard's metrics: riders, expenses, revenue, alerts, connections, events/s."""
        return json.dumps(ops.metrics())

    @mcp.resource(RIDER_PREFIX + "{rider_id}", name="rider", title="One rider", mime_type=JSON)
    def rider(rider_id: str) -> str:
        """One rider's status and last fix."""
        view = ops.fleet.view(rider_id)
        if view is None:
            raise ResourceError(f"not_found: no rider {rider_id!r} has reported a position")
        return json.dumps(view)


def register_prompts(mcp: MCPServer[Any]) -> None:
    @mcp.prompt(title="Fleet status briefing")
    def fleet_briefing() -> str:
        """Summarise the fleet right now for an operations lead."""
        return ("Brief me on the delivery fleet right now. Call fleet_overview for the counts "
                "and events per second, then open_alerts for what needs attention. Say how "
                "many riders are online, stale and offline, list the open alerts by severity "
                "(SOS and no-go breaches first) with the rider and how long ago, and suggest "
                "which to acknowledge or follow up.")

    @mcp.prompt(title="Investigate a rider")
    def investigate_rider(rider_id: str) -> str:
        """What is going on with one rider: status, position, recent alerts."""
        return (f"Investigate rider {rider_id}. Call rider_status for their status and last "
                f"fix, open_alerts with rider_id={rider_id!r} and include_acknowledged=true "
                "for their recent alerts, and riders_near around their last position for "
                "who could help. Summarise what is going on and what to do next.")
