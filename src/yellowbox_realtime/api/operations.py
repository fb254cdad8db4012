"""The operations endpoints of ``/api/v1``: geofences, alerts, expenses, orders, the fleet
and the dashboard's metrics.

Two kinds of caller, one ``Authorization: Bearer`` header: a back-office API key
(``ybrt_...``, or ``X-API-Key``), allowed by its scopes and channels, or a person's own ID
token (the dashboard in a browser), allowed by the policy table: reading is subscribing to
the channel, changing is publishing the action (``manage_geofences``,
``acknowledge_alert``, ``expense_status_change``, ``order_status_change``).

Changes go through the broker like every other event (the fence update, the expense status
change ...), so every node applies them and every subscriber sees them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ..auth.base import Authenticator
from ..core.idempotency import IdempotencyKey
from ..core.policy import Policy
from ..domain.alerts import ALERT_KINDS, ALERT_STATES, SEVERITIES
from ..domain.geofence_config import fence_from_data, fence_to_data
from ..errors import AuthenticationError, PayloadTooLarge, ValidationError
from ..operations import ALERTS, DASHBOARD, EXPENSE_UPDATES, FLEET, GEOFENCES, ORDERS, Operations
from .keys import KEY_PREFIX, ApiKey, Caller, KeyRing, actor, principal
from .validation import check_idempotency_key, parse_json, parse_limit

__all__ = ["OperationsApi"]

PREFIX = "/api/v1"

_T = TypeVar("_T", bound=str)


def _choices(query: QueryParams, name: str, allowed: tuple[_T, ...]) -> list[_T] | None:
    """``?kind=sos,speeding`` (or ``?kind=sos&kind=speeding``): the chosen values, or None."""
    given = [v.strip() for raw in query.getlist(name) for v in raw.split(",") if v.strip()]
    if not given:
        return None
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        raise ValidationError(f"{name}: unknown {', '.join(unknown)} (one of "
                              f"{', '.join(allowed)})")
    return [v for v in allowed if v in given]


def _sort(query: QueryParams) -> str:
    sort = query.get("sort", "time")
    if sort not in ("time", "severity"):
        raise ValidationError("sort: one of time, severity")
    return sort


class OperationsApi:
    def __init__(self, operations: Operations, keys: KeyRing, authenticator: Authenticator,
                 policy: Policy, max_payload: int, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.operations = operations
        self.keys = keys
        self.authenticator = authenticator
        self.policy = policy
        self.max_payload = max_payload
        self._clock = clock

    def routes(self) -> list[BaseRoute]:
        return [
            Route(f"{PREFIX}/geofences", self.list_fences, methods=["GET"]),
            Route(f"{PREFIX}/geofences/{{fence_id}}", self.put_fence, methods=["PUT"]),
            Route(f"{PREFIX}/geofences/{{fence_id}}", self.delete_fence, methods=["DELETE"]),
            Route(f"{PREFIX}/alerts", self.list_alerts, methods=["GET"]),
            Route(f"{PREFIX}/alerts/{{alert_id}}/ack", self.acknowledge, methods=["POST"]),
            Route(f"{PREFIX}/alerts/{{alert_id}}/resolve", self.resolve, methods=["POST"]),
            Route(f"{PREFIX}/expenses", self.change_expense, methods=["POST"]),
            Route(f"{PREFIX}/orders", self.change_order, methods=["POST"]),
            Route(f"{PREFIX}/fleet", self.fleet, methods=["GET"]),
            Route(f"{PREFIX}/dashboard", self.dashboard, methods=["GET"]),
        ]

    # -- endpoints --------------------------------------------------------------------

    async def list_fences(self, request: Request) -> JSONResponse:
        await self._read(request, GEOFENCES, "geofences")
        return JSONResponse(self.operations.geofences_snapshot())

    async def put_fence(self, request: Request) -> JSONResponse:
        await self._change(request, "manage_geofences", "geofences", GEOFENCES)
        data = await self._body(request)
        if not isinstance(data, dict):
            raise ValidationError("the body must be a fence object {name, kind, circle | "
                                  "polygon}")
        fence_id = request.path_params["fence_id"]
        if data.get("id", fence_id) != fence_id:
            raise ValidationError(f"id: the body says {data['id']!r}, the path {fence_id!r}")
        fence = fence_from_data({**data, "id": fence_id})
        created = await self.operations.put_fence(fence)
        return JSONResponse({"fence": fence_to_data(fence)}, status_code=201 if created else 200)

    async def delete_fence(self, request: Request) -> Response:
        await self._change(request, "manage_geofences", "geofences", GEOFENCES)
        await self.operations.delete_fence(request.path_params["fence_id"])
        return Response(status_code=204)

    async def list_alerts(self, request: Request) -> JSONResponse:
        await self._read(request, ALERTS, "alerts")
        query = request.query_params
        open_only = query.get("open", "false").lower() in ("true", "1")
        limit = parse_limit(query.get("limit"))
        alerts = self.operations.alerts.recent(
            limit, open_only=open_only,
            states=_choices(query, "state", ALERT_STATES),
            kinds=_choices(query, "kind", ALERT_KINDS),
            severities=_choices(query, "severity", SEVERITIES),
            by_severity=_sort(query) == "severity")
        return JSONResponse({"alerts": [a.to_wire() for a in alerts],
                             "counts": self.operations.alerts.counts()})

    async def acknowledge(self, request: Request) -> JSONResponse:
        caller = await self._change(request, "acknowledge_alert", "alerts", ALERTS)
        alert = await self.operations.acknowledge(request.path_params["alert_id"],
                                                  actor(caller))
        return JSONResponse({"alert": alert.to_wire()})

    async def resolve(self, request: Request) -> JSONResponse:
        # Whoever may acknowledge an alert may close it.
        caller = await self._change(request, "acknowledge_alert", "alerts", ALERTS)
        alert = await self.operations.resolve(request.path_params["alert_id"], actor(caller))
        return JSONResponse({"alert": alert.to_wire()})

    async def change_expense(self, request: Request) -> JSONResponse:
        caller = await self._change(request, "expense_status_change", "publish",
                                    EXPENSE_UPDATES)
        key = self._idempotency_key(request, caller)
        position, expense = await self.operations.change_expense(await self._body(request),
                                                                 key)
        return JSONResponse({"id": str(position), "expense": expense}, status_code=202)

    async def change_order(self, request: Request) -> JSONResponse:
        caller = await self._change(request, "order_status_change", "publish", ORDERS)
        key = self._idempotency_key(request, caller)
        position, order = await self.operations.change_order(await self._body(request), key)
        return JSONResponse({"id": str(position), "order": order}, status_code=202)

    async def fleet(self, request: Request) -> JSONResponse:
        await self._read(request, FLEET, "read")
        snapshot = self.operations.fleet_snapshot()
        return JSONResponse({"riders": snapshot["riders"], "at": snapshot["at"]})

    async def dashboard(self, request: Request) -> JSONResponse:
        await self._read(request, DASHBOARD, "read")
        return JSONResponse(self.operations.metrics())

    # -- steps ------------------------------------------------------------------------

    async def caller(self, headers: Mapping[str, str]) -> Caller:
        """Who sends these headers: an API key or a verified token, its request rate taken.
        The MCP endpoint (:mod:`..assistant`) asks the same question of its requests."""
        authorization = headers.get("authorization", "")
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if "x-api-key" in headers or token.startswith(KEY_PREFIX):
            key = self.keys.authenticate(headers)
            self.keys.take(key, self._clock())
            return key
        if scheme.lower() != "bearer" or not token:
            raise AuthenticationError("send 'Authorization: Bearer <ID token or API key>'")
        credentials = await self.authenticator.authenticate(token)
        self.keys.take(credentials, self._clock())
        return credentials

    def check_read(self, caller: Caller, channel: str, scope: str) -> None:
        """Reading is subscribing to ``channel`` (a key: having ``scope`` on it)."""
        if isinstance(caller, ApiKey):
            caller.check(scope, channel)
        else:
            self.policy.check_subscribe(caller, channel)

    def check_change(self, caller: Caller, action: str, scope: str, channel: str) -> None:
        """Changing is publishing ``action`` (a key: having ``scope`` on ``channel``)."""
        if isinstance(caller, ApiKey):
            caller.check(scope, channel)
        else:
            self.policy.check_publish(caller, action)

    async def _read(self, request: Request, channel: str, scope: str) -> Caller:
        caller = await self.caller(request.headers)
        self.check_read(caller, channel, scope)
        return caller

    async def _change(self, request: Request, action: str, scope: str,
                      channel: str) -> Caller:
        caller = await self.caller(request.headers)
        self.check_change(caller, action, scope, channel)
        return caller

    async def _body(self, request: Request) -> Any:
        body = await request.body()
        if len(body) > self.max_payload:
            raise PayloadTooLarge(f"the body is {len(body)} bytes, at most {self.max_payload}")
        return parse_json(request.headers.get("content-type"), body)

    @staticmethod
    def _idempotency_key(request: Request, caller: Caller) -> IdempotencyKey | None:
        key = check_idempotency_key(request.headers.get("idempotency-key"))
        if key is None:
            return None
        return IdempotencyKey(principal(caller), f"{request.url.path}:{key}")
