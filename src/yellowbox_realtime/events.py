"""The Yellow Box events: the Socket.IO face of the gateway, written on the public API.

Nothing here is special to the core; it is one application of :class:`Namespace` and
:class:`Socket`, as a user of the gateway would write it, with the domain in
:class:`~.operations.Operations`:

- every connection is in ``role:<role>`` and ``user:<uid>`` (done by the core);
- ``subscribe_<channel>`` / ``unsubscribe_<channel>`` for ``rider_locations``,
  ``expense_updates``, ``fleet``, ``alerts``, ``dashboard``, ``geofences``, ``orders`` and
  ``riders``
  answer ``{"ok": true, "channel": ...}`` or ``{"ok": false, "error": why}``; a channel with a
  snapshot (the fleet, alerts, metrics ...) sends it to the new subscriber first;
- ``publish_location`` from a rider is validated, rate-limited per rider (across all of that
  rider's connections), checked against the rider's last fix (no going back in time, no
  impossible jumps) and broadcast as ``rider_location_update`` with the rider id taken from
  the token (a ``riderId`` in the payload must be that one) and the configured extra fields
  under ``extra``;
- ``rider_sos`` from a rider raises a critical alert; ``acknowledge_alert`` from operations
  acknowledges one;
- riders' connections opening and closing are published to ``rider_presence``, which the
  fleet's online and offline status follow.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from .config import RidersConfig
from .core.channels import user_channel
from .core.policy import Policy
from .domain.location import LocationLimits, TokenBucket, validate_location
from .errors import AuthenticationError, ValidationError
from .messages import Credentials
from .operations import (
    ALERTS,
    DASHBOARD,
    EXPENSE_UPDATES,
    FLEET,
    GEOFENCES,
    LOCATION_EVENT,
    ORDERS,
    PRESENCE_EVENT,
    RIDER_LOCATIONS,
    RIDER_PRESENCE,
    RIDERS,
    Operations,
)
from .server.namespaces import Namespace, Socket

SUBSCRIBABLE = (RIDER_LOCATIONS, EXPENSE_UPDATES, FLEET, ALERTS, DASHBOARD, GEOFENCES, ORDERS,
                RIDERS)
# An SOS is rare and urgent: a few in a row are let through, a stream of them is not.
SOS_RATE_PER_S = 0.1
SOS_BURST = 3
MAX_SOS_MESSAGE = 500

# channel -> (event, provider): what a channel's new subscriber gets first.
Snapshots = Mapping[str, tuple[str, Callable[[Credentials], Any]]]


class YellowBoxEvents:
    def __init__(self, namespace: Namespace, policy: Policy, riders: RidersConfig,
                 operations: Operations, snapshots: Snapshots | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.namespace = namespace
        self.policy = policy
        self.riders = riders
        self.operations = operations
        self.snapshots: Snapshots = snapshots if snapshots is not None else {}
        self.clock = clock
        self.limits = LocationLimits(riders.max_accuracy_m, riders.max_speed_mps,
                                     riders.extra_fields, riders.max_extra_string_chars)
        self._buckets: dict[str, TokenBucket] = {}
        self._sos_buckets: dict[str, TokenBucket] = {}

    def install(self) -> None:
        ns = self.namespace
        for channel in SUBSCRIBABLE:
            ns.on(f"subscribe_{channel}")(self._subscriber(channel))
            ns.on(f"unsubscribe_{channel}")(self._unsubscriber(channel))
        ns.on("publish_location")(self.publish_location)
        ns.on("rider_sos")(self.rider_sos)
        ns.on("acknowledge_alert")(self.acknowledge_alert)
        ns.on_connect(self._rider_connected)
        ns.on_disconnect(self._rider_disconnected)

    # -- client events ----------------------------------------------------------------

    def _subscriber(self, channel: str) -> Callable[..., dict[str, Any]]:
        def subscribe(socket: Socket, *_: Any) -> dict[str, Any]:
            who = _who(socket)
            self.policy.check_subscribe(who, channel)
            socket.join(channel)
            snapshot = self.snapshots.get(channel)
            if snapshot is not None:
                event, provider = snapshot
                socket.emit(event, provider(who))
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
        _take(self._buckets, who.uid, now, self.riders.location_rate_per_s,
              self.riders.location_burst, "location updates")
        update = validate_location(payload, who.uid, now, self.limits)
        self.operations.check_fix(update)
        self.namespace.to(RIDER_LOCATIONS).emit(LOCATION_EVENT, update)
        return {"ok": True, "timestamp": update["timestamp"]}

    def rider_sos(self, socket: Socket, payload: Any = None, *extra: Any) -> dict[str, Any]:
        who = _who(socket)
        self.policy.check_publish(who, "rider_sos")
        if extra or not isinstance(payload, dict):
            raise ValidationError("rider_sos takes one object: {latitude, longitude, message?}")
        fields = dict(payload)
        message = fields.pop("message", None)
        if message is not None and (not isinstance(message, str)
                                    or len(message) > MAX_SOS_MESSAGE):
            raise ValidationError(f"message must be a string of at most {MAX_SOS_MESSAGE} "
                                  "characters")
        now = self.clock()
        where = validate_location(fields, who.uid, now, self.limits)
        _take(self._sos_buckets, who.uid, now, SOS_RATE_PER_S, SOS_BURST, "SOS alerts")
        alert = self.operations.rider_sos(who, where["latitude"], where["longitude"],
                                          message or None)
        return {"ok": True, "alertId": alert.id}

    async def acknowledge_alert(self, socket: Socket, payload: Any = None,
                                *extra: Any) -> dict[str, Any]:
        who = _who(socket)
        self.policy.check_publish(who, "acknowledge_alert")
        if extra or not isinstance(payload, dict) or not isinstance(payload.get("alertId"),
                                                                    str):
            raise ValidationError("acknowledge_alert takes {alertId: string}")
        alert = await self.operations.acknowledge(payload["alertId"], who.uid)
        return {"ok": True, "alert": alert.to_wire()}

    def _rider_connected(self, socket: Socket) -> None:
        if socket.role == "rider" and socket.uid is not None:
            self.namespace.to(RIDER_PRESENCE).emit(
                PRESENCE_EVENT, {"riderId": socket.uid, "connected": True})

    def _rider_disconnected(self, socket: Socket, _reason: str) -> None:
        uid = socket.uid
        if uid is None:
            return
        if socket.role == "rider":
            self.namespace.to(RIDER_PRESENCE).emit(
                PRESENCE_EVENT, {"riderId": uid, "connected": False})
        if self.namespace.hub.count(self.namespace.channel(user_channel(uid))) == 0:
            self._buckets.pop(uid, None)
            self._sos_buckets.pop(uid, None)


def _take(buckets: dict[str, TokenBucket], uid: str, now: float, rate: float, burst: int,
          what: str) -> None:
    """One event from the rider's bucket (shared by all of the rider's connections)."""
    bucket = buckets.get(uid)
    if bucket is None:
        bucket = buckets[uid] = TokenBucket(rate, burst, now)
    bucket.take(now, what)


def _who(socket: Socket) -> Credentials:
    if socket.credentials is None:
        raise AuthenticationError("this event needs an authenticated connection")
    return socket.credentials
