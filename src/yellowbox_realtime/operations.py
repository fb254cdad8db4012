"""The operations service: what the gateway knows about the fleet and the back office.

Everything here is computed from the events that flow through the broker, never typed in:
it subscribes to its channels on the hub like any other subscriber (one small tap per
channel, each accepting only the events that belong there), so in a cluster every node that
sees the same events computes the same state.

- ``rider_locations``: each fix moves the rider in :class:`FleetState` (status online,
  stale, offline) and through the geofences (``geofence_event`` enter and exit; entering a
  no-go area is a breach alert), and may start a speeding alert;
- ``rider_presence`` (internal): riders' connections opening and closing;
- ``alerts``: alerts raised (or repeated), acknowledged and resolved, into the
  :class:`AlertBook`; a stale or offline rider that reports again resolves its own alert;
- ``expense_updates`` and ``orders``: the back office's changes, into the ledgers; an expense
  that changed tells its rider with a ``notification``;
- ``geofences``: fences added, replaced and removed (through the HTTP API).

What it publishes in reaction (alerts, geofence events, notifications) carries an
idempotency key derived from the event that caused it, so a cluster's nodes reacting to the
same event publish it once. Reactions are published from a task, never from inside the
fan-out that delivered their cause, so every subscriber sees the cause first.

Timers (one :class:`Deadlines` entry each, not one per rider): a sweep once a second turns
silent riders stale and offline; the fleet's moved riders go out as one ``fleet_update``
batch per ``conflate_interval_s``; ``dashboard_update`` goes out at most once per
``dashboard_interval_s`` and only when a metric changed. Both only while this node has
subscribers to the channel (the riders that moved meanwhile wait for the next batch), so
an unwatched gateway publishes nothing on its own.

In a cluster (``cluster``, a :class:`Cluster`) the batches and dashboard updates are
published by the one node that leads (the others drain their moved riders and stay quiet),
when any node has subscribers to the channel; the dashboard's ``connections`` and
``eventsPerSecond`` are the whole cluster's. The sweep runs on every node, since every
node's fleet state must age alike; the alerts it raises are keyed by their cause, so the
cluster publishes each once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from .config import FleetConfig, OperationsConfig
from .core.background import Background
from .core.channels import role_channel, user_channel
from .core.deadlines import Deadlines
from .core.hub import Hub, Outgoing
from .core.idempotency import GATEWAY, IdempotencyKey
from .core.router import Router
from .domain.alert_rules import SpeedWatch, breach
from .domain.alerts import Alert, AlertBook, AlertKind, new_alert
from .domain.expenses import ExpenseLedger, validate_expense_change
from .domain.fleet import FleetLimits, FleetState, StatusChange
from .domain.geo import LatLon
from .domain.geofence import Fence, GeofenceEvent, GeofenceSet
from .domain.geofence_config import fence_from_data, fence_to_data, fences_to_data
from .domain.location import fix_time
from .domain.orders import OrderLedger, validate_order_change
from .domain.rates import EventRate
from .domain.wiretime import iso
from .errors import GatewayError, NotFound
from .messages import Credentials, StreamPosition

__all__ = ["ALERTS", "DASHBOARD", "EXPENSE_UPDATES", "FLEET", "GEOFENCES", "ORDERS",
           "RIDERS", "RIDER_LOCATIONS", "RIDER_PRESENCE", "Operations"]

log = logging.getLogger(__name__)

RIDER_LOCATIONS = "rider_locations"
RIDER_PRESENCE = "rider_presence"
EXPENSE_UPDATES = "expense_updates"
ORDERS = "orders"
ALERTS = "alerts"
FLEET = "fleet"
DASHBOARD = "dashboard"
GEOFENCES = "geofences"
# Rider profiles as Firestore changes them (the Firebase webhook); no state kept here.
RIDERS = "riders"

LOCATION_EVENT = "rider_location_update"
PRESENCE_EVENT = "rider_presence"
EXPENSE_EVENT = "expense_status_change"
ORDER_EVENT = "order_status_change"
ALERT_EVENT = "alert"
ACKNOWLEDGED_EVENT = "alert_acknowledged"
RESOLVED_EVENT = "alert_resolved"
FLEET_EVENT = "fleet_update"
DASHBOARD_EVENT = "dashboard_update"
GEOFENCE_UPDATE = "geofence_update"
GEOFENCE_EVENT = "geofence_event"
NOTIFICATION_EVENT = "notification"

# Statuses change within this of their deadline (finer when the deadlines are short, so a
# rider cannot skip from online to offline between two sweeps).
SWEEP_INTERVAL_S = 1.0
# What an alerts snapshot starts with: the unresolved alerts, worst and newest first, then
# the latest resolved ones; the API serves the rest of the history.
RECENT_ALERTS = 100
RECENT_RESOLVED = 20
# Who resolves an alert that ended on its own (the rider reported again).
SYSTEM = "system"
RECENT_EXPENSES = 50

Connections = Callable[[], Mapping[str, int]]


class Cluster(Protocol):
    """What the operations need to know about the other nodes (see
    :class:`~.brokers.redis_cluster.RedisCluster`)."""

    def leads(self) -> bool:
        """Whether this node publishes the timer-driven events now."""

    def watched(self, channel: str) -> bool:
        """Whether any node has subscribers to the channel."""

    def connections(self) -> dict[str, int]:
        """Open client connections of every node, by transport."""

    def published(self) -> int:
        """Events published by every node (a counter for rates)."""
SaveFences = Callable[[list[dict[str, Any]]], None]


# A tap's handler gets the event's data and its stream id (``epoch:offset``), which every
# node of a cluster sees the same, so reactions named after it are named alike everywhere.
Handler = Callable[[Any, str], None]


class _Tap:
    """One channel's subscription: the events it accepts, each with its handler."""

    __slots__ = ("channel", "handlers")

    def __init__(self, channel: str, handlers: Mapping[str, Handler]) -> None:
        self.channel = channel
        self.handlers = handlers

    def hear(self, message: Outgoing) -> None:
        handler = self.handlers.get(message.event)
        if handler is None or len(message.args) != 1:
            return
        try:
            handler(message.args[0], message.id)
        except (GatewayError, KeyError, TypeError, ValueError) as exc:
            # Published by someone trusted with the channel, but not what the domain reads:
            # it still reached its subscribers; the state just does not count it.
            log.warning("ignored a %r on %s: %s", message.event, self.channel, exc)

class Operations:
    def __init__(self, broker: Router, hub: Hub, background: Background,
                 fleet: FleetConfig, config: OperationsConfig, *,
                 alert_roles: Iterable[str] = ("admin", "operations"),
                 fences: Sequence[Fence] = (), save_fences: SaveFences | None = None,
                 connections: Connections = dict, cluster: Cluster | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.broker = broker
        self.hub = hub
        self.background = background
        self.config = config
        self.fleet_config = fleet
        self.clock = clock
        self.fleet = FleetState(FleetLimits(
            stale_after_s=fleet.stale_after_s, offline_after_s=fleet.offline_after_s,
            disconnect_grace_s=fleet.disconnect_grace_s,
            max_jump_speed_mps=fleet.max_jump_speed_mps,
            jump_allowance_m=fleet.jump_allowance_m, max_riders=fleet.max_riders))
        self.geofences = GeofenceSet(fences)
        self.alerts = AlertBook(config.max_alerts)
        self.speeding = SpeedWatch(fleet.speeding_mps)
        self.expenses = ExpenseLedger(config.max_expenses)
        self.orders = OrderLedger(config.utc_offset_h, config.max_orders)
        self.rate = EventRate()
        self._save_fences = save_fences
        self._connections = connections
        self.cluster = cluster
        # Alerts go to the alerts channel and to the rooms of the roles that may read it, so
        # an operations screen gets them without subscribing.
        self._alert_channels = [ALERTS, *(role_channel(role) for role in sorted(alert_roles))]
        self._published_seen = 0
        self._sweep_interval_s = min(SWEEP_INTERVAL_S, fleet.stale_after_s / 4)
        self._last_metrics: dict[str, Any] | None = None
        self._taps = [
            _Tap(RIDER_LOCATIONS, {LOCATION_EVENT: self._located}),
            _Tap(RIDER_PRESENCE, {PRESENCE_EVENT: self._presence}),
            _Tap(ALERTS, dict.fromkeys((ALERT_EVENT, ACKNOWLEDGED_EVENT, RESOLVED_EVENT),
                                       self._alert_changed)),
            _Tap(EXPENSE_UPDATES, {EXPENSE_EVENT: self._expense_changed}),
            _Tap(ORDERS, {ORDER_EVENT: self._order_changed}),
            _Tap(GEOFENCES, {GEOFENCE_UPDATE: self._fence_changed}),
        ]
        for tap in self._taps:
            hub.listen(tap.channel, tap.hear)
        # The back office's changes are checked whichever door they come in by.
        broker.check(EXPENSE_UPDATES, EXPENSE_EVENT,
                     lambda data: validate_expense_change(data, self.clock()))
        broker.check(ORDERS, ORDER_EVENT, lambda data: validate_order_change(data, self.clock()))

    # -- lifecycle --------------------------------------------------------------------

    def start(self, deadlines: Deadlines) -> None:
        self._published_seen = self._published()
        deadlines.after(self._sweep_interval_s, self._sweep, deadlines)
        deadlines.after(self.fleet_config.conflate_interval_s, self._conflate, deadlines)
        deadlines.after(self.config.dashboard_interval_s, self._dashboard, deadlines)

    def close(self) -> None:
        for tap in self._taps:
            self.hub.unlisten(tap.channel, tap.hear)

    # -- what clients and the API ask ---------------------------------------------------

    def check_fix(self, update: dict[str, Any]) -> None:
        """Refuse a rider's fix that goes back in time or jumps impossibly far."""
        self.fleet.check(update, fix_time(update))

    def rider_sos(self, who: Credentials, latitude: float, longitude: float,
                  message: str | None) -> Alert:
        now = self.clock()
        text = f"SOS from {who.uid}" + (f": {message}" if message else "")
        alert = new_alert("sos", who.uid, text, now, f"sos:{now!r}",
                          latitude=latitude, longitude=longitude)
        # A repeat SOS answers with the rider's open SOS alert, now counted once more.
        return self._raise(alert) or alert

    async def acknowledge(self, alert_id: str, by: str) -> Alert:
        alert = self.alerts.acknowledge(alert_id, by, self.clock())
        await self.broker.publish(self._alert_channels,
                                  Outgoing(ACKNOWLEDGED_EVENT, (alert.to_wire(),)),
                                  idempotency_key=IdempotencyKey(GATEWAY, f"ack:{alert.id}"))
        return alert

    async def resolve(self, alert_id: str, by: str) -> Alert:
        alert = self.alerts.resolve(alert_id, by, self.clock())
        await self.broker.publish(self._alert_channels,
                                  Outgoing(RESOLVED_EVENT, (alert.to_wire(),)),
                                  idempotency_key=IdempotencyKey(GATEWAY, f"resolve:{alert.id}"))
        return alert

    async def change_expense(self, data: Any, key: IdempotencyKey | None
                             ) -> tuple[StreamPosition, dict[str, Any]]:
        return await self._change(EXPENSE_UPDATES, EXPENSE_EVENT, data, key)

    async def change_order(self, data: Any, key: IdempotencyKey | None
                           ) -> tuple[StreamPosition, dict[str, Any]]:
        return await self._change(ORDERS, ORDER_EVENT, data, key)

    async def _change(self, channel: str, event: str, data: Any, key: IdempotencyKey | None
                      ) -> tuple[StreamPosition, dict[str, Any]]:
        message = Outgoing(event, (data,))
        position = await self.broker.publish([channel], message, idempotency_key=key)
        return position, message.args[0]  # as the router's check returned it

    async def put_fence(self, fence: Fence) -> bool:
        """Add or replace a fence; True if it is new."""
        new = fence.id not in self.geofences
        await self.broker.publish([GEOFENCES], Outgoing(
            GEOFENCE_UPDATE, ({"type": "upsert", "fence": fence_to_data(fence)},)))
        return new

    async def delete_fence(self, fence_id: str) -> None:
        self.geofences.get(fence_id)  # NotFound before anything is published
        await self.broker.publish([GEOFENCES], Outgoing(
            GEOFENCE_UPDATE, ({"type": "delete", "id": fence_id},)))

    # -- snapshots --------------------------------------------------------------------

    def fleet_snapshot(self, _who: Credentials | None = None) -> dict[str, Any]:
        return {"type": "snapshot", "riders": self.fleet.snapshot(), "at": iso(self.clock())}

    def alerts_snapshot(self, _who: Credentials | None = None) -> dict[str, Any]:
        unresolved = self.alerts.recent(RECENT_ALERTS, states=("open", "acknowledged"),
                                        by_severity=True)
        resolved = self.alerts.recent(RECENT_RESOLVED, states=("resolved",))
        return {"alerts": [a.to_wire() for a in (*unresolved, *resolved)],
                "counts": self.alerts.counts()}

    def expenses_snapshot(self, _who: Credentials | None = None) -> dict[str, Any]:
        return {"expenses": self.expenses.recent(RECENT_EXPENSES),
                "pending": self.expenses.pending(),
                "approvedTotal": self.expenses.approved_total()}

    def geofences_snapshot(self, _who: Credentials | None = None) -> dict[str, Any]:
        return {"fences": fences_to_data(self.geofences.fences())}

    def metrics(self, _who: Credentials | None = None) -> dict[str, Any]:
        now = self.clock()
        counts = self.fleet.counts()
        return {
            "riders": {"active": counts["online"], **counts, "total": sum(counts.values())},
            "expenses": {"pending": self.expenses.pending(),
                         "approvedTotal": self.expenses.approved_total()},
            "revenue": self.orders.revenue(now),
            "alerts": self.alerts.counts(),
            "connections": dict(self.cluster.connections() if self.cluster is not None
                                else self._connections()),
            "eventsPerSecond": round(self.rate.per_second(now), 1),
            "at": iso(now),
        }

    # -- taps: events arriving on the channels ------------------------------------------

    def _located(self, update: dict[str, Any], event_id: str) -> None:
        rider_id = str(update["riderId"])
        latitude, longitude = float(update["latitude"]), float(update["longitude"])
        before = self.fleet.view(rider_id)
        now = self.clock()
        changes = self.fleet.update(update, fix_time(update), now)
        # Per-rider state stays within the fleet's bound: a rider the fleet dropped to make
        # room (max_riders) is dropped everywhere.
        for dropped in self.fleet.drain_forgotten():
            self.geofences.forget(dropped)
            self.speeding.forget(dropped)
        self._status_changed(changes)
        previous = LatLon(before["latitude"], before["longitude"]) if before else None
        for event in self.geofences.move(rider_id, previous, LatLon(latitude, longitude), now):
            self._crossed(event, update, event_id)
        speed = update.get("speed")
        if self.speeding.check(rider_id, speed, now):
            kmh = round(float(update["speed"]) * 3.6)
            self._raise(new_alert(
                "speeding", rider_id, f"{rider_id} is riding at {kmh} km/h", now,
                f"speeding:{event_id}", latitude=latitude, longitude=longitude,
                speed=speed))

    def _crossed(self, event: GeofenceEvent, update: Mapping[str, Any], event_id: str) -> None:
        fence = self.geofences.get(event.fence_id)
        cause = f"{event.fence_id}:{event.kind}:{event_id}"
        self._react([GEOFENCES], GEOFENCE_EVENT, {
            "riderId": event.rider_id, "fenceId": fence.id, "fenceName": fence.name,
            "fenceKind": fence.kind, "kind": event.kind, "at": iso(event.at)},
            key=f"geofence:{event.rider_id}:{cause}")
        if breach(fence.kind, event.kind):
            self._raise(new_alert(
                "geofence_breach", event.rider_id,
                f"{event.rider_id} entered the no-go area {fence.name}", event.at, cause,
                latitude=update["latitude"], longitude=update["longitude"],
                fenceId=fence.id, fenceName=fence.name))

    def _presence(self, data: dict[str, Any], _event_id: str) -> None:
        rider_id, now = str(data["riderId"]), self.clock()
        if data["connected"] is True:
            self._status_changed(self.fleet.connected(rider_id, now))
        else:
            self._status_changed(self.fleet.disconnected(rider_id, now))

    def _alert_changed(self, data: dict[str, Any], _event_id: str) -> None:
        # Raised, repeated, acknowledged or resolved: the book merges whatever it is told.
        self.alerts.apply(Alert.from_wire(data))

    def _expense_changed(self, expense: dict[str, Any], event_id: str) -> None:
        # Checked on its way in, whichever door it came by (the router's check above).
        if not self.expenses.apply(expense):
            return
        rider_id = expense.get("riderId")
        if rider_id:
            self._react([user_channel(rider_id)], NOTIFICATION_EVENT, {
                "type": "expense",
                "title": f"Expense {expense['expenseId']} {expense['status']}",
                "body": (f"Your expense of {expense['amount']:g} {expense['currency']} "
                         f"is {expense['status']}."),
                "expense": expense, "at": expense["updatedAt"]},
                key=f"notify:{event_id}")

    def _order_changed(self, order: dict[str, Any], _event_id: str) -> None:
        self.orders.apply(order, self.clock())

    def _fence_changed(self, data: dict[str, Any], _event_id: str) -> None:
        if data["type"] == "upsert":
            fence = fence_from_data(data["fence"])
            if fence.id in self.geofences:
                self.geofences.replace(fence)
            else:
                self.geofences.add(fence)
        elif data["type"] == "delete":
            try:
                self.geofences.remove(str(data["id"]))
            except NotFound:
                return
        else:
            raise ValueError(f"unknown geofence update type {data['type']!r}")
        if self._save_fences is not None:
            self._save_fences(fences_to_data(self.geofences.fences()))

    # -- reactions ----------------------------------------------------------------------

    def _status_changed(self, changes: list[StatusChange]) -> None:
        for change in changes:
            view = change.view
            where = {"latitude": view.get("latitude"), "longitude": view.get("longitude")}
            cause = f"{change.status}:{view.get('timestamp')}"
            # Only a rider that was reporting goes stale: one coming back from offline has
            # reconnected, which ends an alert rather than raising one.
            if change.status == "stale" and change.previous == "online":
                self._raise(new_alert("rider_stale", change.rider_id,
                                      f"{change.rider_id} has not reported a position for "
                                      f"{self.fleet_config.stale_after_s:g} s",
                                      change.at, cause, **where))
            elif change.status == "offline":
                self._raise(new_alert("rider_offline", change.rider_id,
                                      f"{change.rider_id} is offline", change.at, cause,
                                      **where))
            # What the change ends (after what it raised, so a screen never shows a gap):
            # a fix ends stale and offline, a reconnect without a fix yet (offline -> stale)
            # ends offline, and offline supersedes stale (one alert for the rider, not two).
            ended: tuple[AlertKind, ...] = {
                "online": ("rider_stale", "rider_offline"),
                "stale": ("rider_offline",) if change.previous == "offline" else (),
                "offline": ("rider_stale",),
            }[change.status]
            for alert in self.alerts.resolve_rider(change.rider_id, ended, SYSTEM, change.at):
                self._react(self._alert_channels, RESOLVED_EVENT, alert.to_wire(),
                            key=f"resolve:{alert.id}")

    def _raise(self, trigger: Alert) -> Alert | None:
        # In the book at once, so an acknowledgement right after the SOS ack finds it. A
        # repeat goes out as the alert it updated, keyed by the trigger, so the cluster's
        # nodes folding in the same trigger publish it once.
        alert = self.alerts.raised(trigger)
        if alert is not None:
            self._react(self._alert_channels, ALERT_EVENT, alert.to_wire(), key=trigger.id)
        return alert

    def _react(self, channels: list[str], event: str, data: dict[str, Any], *,
               key: str) -> None:
        self.background.spawn(self._publish(channels, Outgoing(event, (data,)), key))

    async def _publish(self, channels: list[str], message: Outgoing, key: str) -> None:
        try:
            await self.broker.publish(channels, message,
                                      idempotency_key=IdempotencyKey(GATEWAY, key))
        except GatewayError as exc:
            log.error("could not publish %r to %s: %s", message.event, channels, exc)

    # -- timers -------------------------------------------------------------------------

    def _sweep(self, deadlines: Deadlines) -> None:
        now = self.clock()
        published = self._published()
        # A node that restarted counts from zero again: never a negative rate.
        self.rate.add(now, max(0, published - self._published_seen))
        self._published_seen = published
        self._status_changed(self.fleet.sweep(now))
        deadlines.after(self._sweep_interval_s, self._sweep, deadlines)

    def _published(self) -> int:
        return self.cluster.published() if self.cluster is not None else self.broker.published

    def _watched(self, channel: str) -> bool:
        if self.cluster is not None:
            return self.cluster.watched(channel)
        return bool(self.hub.count(channel))

    def _conflate(self, deadlines: Deadlines) -> None:
        # With nobody to tell, the moved riders wait for the next subscriber's batch.
        if self._watched(FLEET):
            moved = self.fleet.drain_moved()
            if moved and (self.cluster is None or self.cluster.leads()):
                self.broker.publish_nowait([FLEET], Outgoing(FLEET_EVENT, (
                    {"type": "batch", "riders": moved, "at": iso(self.clock())},)))
        deadlines.after(self.fleet_config.conflate_interval_s, self._conflate, deadlines)

    def _dashboard(self, deadlines: Deadlines) -> None:
        if not self._watched(DASHBOARD) or (self.cluster is not None
                                            and not self.cluster.leads()):
            self._last_metrics = None
            deadlines.after(self.config.dashboard_interval_s, self._dashboard, deadlines)
            return
        metrics = self.metrics()
        unchanged = {**metrics, "at": None}
        if unchanged != self._last_metrics:
            self._last_metrics = unchanged
            self.broker.publish_nowait([DASHBOARD], Outgoing(DASHBOARD_EVENT, (metrics,)))
        deadlines.after(self.config.dashboard_interval_s, self._dashboard, deadlines)
