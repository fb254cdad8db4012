"""The Yellow Box events: the seed's Socket.IO behaviour, written on the public API.

Nothing here is special to the core; it is one application of :class:`Namespace` and
:class:`Socket`, as a user of the gateway would write it:

- every connection is in ``role:<role>`` and ``user:<uid>`` (done by the core);
- ``subscribe_rider_locations`` / ``subscribe_expense_updates`` and their ``unsubscribe_*``
  answer with ``{"ok": true, "channel": ...}`` or ``{"ok": false, "error": why}``;
- ``publish_location`` from a rider is validated, rate-limited per rider (across all of that
  rider's connections) and broadcast as ``rider_location_update`` with the rider id taken
  from the token;
- the back office broadcasts ``expense_status_change`` and messages users and roles;
- each rider's last position is kept (:class:`FleetState`) and every accepted update is also
  published to ``fleet`` as ``fleet_update`` ``{type: "change", rider}``, after the
  ``{type: "snapshot", riders}`` SSE streams of ``fleet`` start with (:meth:`fleet_snapshot`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from .config import RidersConfig
from .core.policy import Policy
from .domain.fleet import FleetState
from .domain.location import LocationLimits, TokenBucket, validate_location
from .errors import AuthenticationError, ValidationError
from .messages import Credentials
from .server.sockets import Namespace, Socket, user_room

RIDER_LOCATIONS = "rider_locations"
EXPENSE_UPDATES = "expense_updates"
LOCATION_EVENT = "rider_location_update"
EXPENSE_EVENT = "expense_status_change"
FLEET = "fleet"
FLEET_EVENT = "fleet_update"


class YellowBoxEvents:
    def __init__(self, namespace: Namespace, policy: Policy, riders: RidersConfig,
                 clock: Callable[[], float] = time.time) -> None:
        self.namespace = namespace
        self.policy = policy
        self.riders = riders
        self.clock = clock
        self.limits = LocationLimits(riders.max_accuracy_m, riders.max_speed_mps)
        self._buckets: dict[str, TokenBucket] = {}
        self.fleet = FleetState()

    def install(self) -> None:
        ns = self.namespace
        for channel in (RIDER_LOCATIONS, EXPENSE_UPDATES):
            ns.on(f"subscribe_{channel}")(self._subscriber(channel))
            ns.on(f"unsubscribe_{channel}")(self._unsubscriber(channel))
        ns.on("publish_location")(self.publish_location)
        ns.on_disconnect(self._forget_rider)

    # -- client events ----------------------------------------------------------------

    def _subscriber(self, channel: str) -> Callable[..., dict[str, Any]]:
        def subscribe(socket: Socket, *_: Any) -> dict[str, Any]:
            self.policy.check_subscribe(_who(socket), channel)
            socket.join(channel)
            return {"ok": True, "channel": channel}
        return subscribe

    def _unsubscriber(self, channel: str) -> Callable[..., dict[str, Any]]:
        def unsubscribe(socket: Socket, *_: Any) -> dict[str, Any]:
            socket.leave(channel)
            return {"ok": True, "channel": channel}
        return unsubscribe

    def publish_location(self, socket: Socket, payload: Any = None,
                         *extra: Any) -> dict[str, Any]:
        who = _who(socket)
        self.policy.check_publish(who, "publish_location")
        if extra:
            raise ValidationError("publish_location takes one location object")
        now = self.clock()
        bucket = self._buckets.get(who.uid)
        if bucket is None:
            bucket = self._buckets[who.uid] = TokenBucket(
                self.riders.location_rate_per_s, self.riders.location_burst, now)
        bucket.take(now, "location updates")
        update = validate_location(payload, who.uid, now, self.limits)
        self.namespace.to(RIDER_LOCATIONS).emit(LOCATION_EVENT, update)
        self.fleet.update(update, now, now)
        self.namespace.to(FLEET).emit(FLEET_EVENT, {"type": "change", "rider": update})
        return {"ok": True, "timestamp": update["timestamp"]}

    def _forget_rider(self, socket: Socket, _reason: str) -> None:
        uid = socket.uid
        if uid is not None and self.namespace.hub.count(
                self.namespace.channel(user_room(uid))) == 0:
            self._buckets.pop(uid, None)

    def fleet_snapshot(self, _who: Credentials) -> dict[str, Any]:
        """What a ``fleet`` SSE stream starts with: every rider's last position."""
        return {"type": "snapshot", "riders": self.fleet.snapshot()}

    # -- back-office API --------------------------------------------------------------

    def broadcast_expense_update(self, expense: dict[str, Any]) -> None:
        """Tell everyone following expenses."""
        if not isinstance(expense.get("expenseId"), str) or not expense["expenseId"]:
            raise ValidationError("expense update needs an expenseId string")
        if not isinstance(expense.get("status"), str) or not expense["status"]:
            raise ValidationError("expense update needs a status string")
        self.namespace.to(EXPENSE_UPDATES).emit(EXPENSE_EVENT, expense)

    def send_to_user(self, uid: str, event: str, data: Any) -> None:
        self.namespace.to_user(uid).emit(event, data)

    def send_to_role(self, role: str, event: str, data: Any) -> None:
        self.namespace.to_role(role).emit(event, data)


def _who(socket: Socket) -> Credentials:
    if socket.credentials is None:
        raise AuthenticationError("this event needs an authenticated connection")
    return socket.credentials
