"""Alerts: what operations must look at, with an id, a severity, a time and a lifecycle.

Pure: times are float UNIX seconds passed in; nothing here does I/O.

Lifecycle: ``open`` -> ``acknowledged`` (someone is on it) -> ``resolved`` (it is over), each
step with who and when; an open alert may also be resolved directly (a stale rider that
reports again resolves its own alert). Every step is kept once, the first one: a second
acknowledgement or resolution changes nothing, so nodes that apply the same steps in any
order end up with the same alert.

One open alert per rider and kind: a trigger for a rider and kind that already has an open
alert is a repeat and updates that alert (``count``, ``lastSeen``) instead of adding one, so
a rider pressing SOS ten times, or going offline every few minutes, is one line on the
screen. Once acknowledged, a new trigger opens a new alert: it is news to whoever is on it.

Ids are derived from the triggering event, not drawn at random: every node of a cluster that
sees the same event (the same SOS, the same rider going stale at the same fix) names the
alert the same, so publishing it twice is harmless and the broker or a reader can drop the
repeat. The ``cause`` says what makes two triggers the same event, e.g. the SOS's timestamp,
``"<fenceId>@<enter time>"`` for a breach, the time of the last fix for stale and offline.

Times are kept to the millisecond, as they travel on the wire, so an alert rebuilt from an
event (:meth:`Alert.from_wire`) equals the one that was sent.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import math
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal, cast

from ..errors import NotFound, ValidationError
from .wiretime import iso, parse_iso, to_millis

__all__ = ["ALERT_KINDS", "ALERT_STATES", "DETAIL_FIELDS", "SEVERITIES", "SEVERITY",
           "SEVERITY_RANK", "Alert",
           "AlertBook", "AlertKind", "AlertState", "Severity", "alert_id", "new_alert"]

AlertKind = Literal["sos", "geofence_breach", "rider_stale", "rider_offline", "speeding"]
Severity = Literal["critical", "warning", "info"]
ALERT_KINDS: tuple[AlertKind, ...] = ("sos", "geofence_breach", "rider_stale",
                                      "rider_offline", "speeding")
SEVERITIES: tuple[Severity, ...] = ("critical", "warning", "info")
SEVERITY: Mapping[AlertKind, Severity] = {
    "sos": "critical",
    "geofence_breach": "critical",
    "speeding": "warning",
    "rider_offline": "warning",
    "rider_stale": "info",
}
# Where it happened, on the wire beside the alert's own fields: name -> numeric or not.
DETAIL_FIELDS: Mapping[str, bool] = {
    "latitude": True, "longitude": True, "speed": True, "fenceId": False, "fenceName": False,
}
AlertState = Literal["open", "acknowledged", "resolved"]
ALERT_STATES: tuple[AlertState, ...] = ("open", "acknowledged", "resolved")
_CORE_FIELDS = frozenset({"id", "kind", "severity", "riderId", "message", "at",
                          "acknowledged", "acknowledgedBy", "acknowledgedAt", "state", "count",
                          "lastSeen", "lastTrigger", "resolvedBy", "resolvedAt"})
_EVICTION_ORDER: tuple[AlertState, ...] = ("resolved", "acknowledged", "open")
# The order the panel and the API sort by: the worst first.
SEVERITY_RANK: Mapping[Severity, int] = {"critical": 0, "warning": 1, "info": 2}


def alert_id(kind: AlertKind, rider_id: str, cause: str) -> str:
    # JSON keeps the parts apart: ("a", "b:c") and ("a:b", "c") must not collide.
    digest = hashlib.sha256(json.dumps([kind, rider_id, cause]).encode()).hexdigest()
    return "al_" + digest[:20]


@dataclass(frozen=True, slots=True)
class Alert:
    id: str
    kind: AlertKind
    severity: Severity
    rider_id: str
    message: str
    at: float
    details: Mapping[str, Any] = field(default_factory=dict)
    acknowledged_by: str | None = None
    acknowledged_at: float | None = None
    # Triggers folded into this alert (itself included), the latest one's time and id.
    count: int = 1
    last_seen: float | None = None
    last_trigger: str | None = None
    resolved_by: str | None = None
    resolved_at: float | None = None

    @property
    def acknowledged(self) -> bool:
        return self.acknowledged_at is not None

    @property
    def resolved(self) -> bool:
        return self.resolved_at is not None

    @property
    def state(self) -> AlertState:
        if self.resolved_at is not None:
            return "resolved"
        return "acknowledged" if self.acknowledged_at is not None else "open"

    @property
    def seen(self) -> float:
        return self.at if self.last_seen is None else self.last_seen

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {
            "id": self.id, "kind": self.kind, "severity": self.severity,
            "riderId": self.rider_id, "message": self.message, "at": iso(self.at),
            "acknowledged": self.acknowledged, "state": self.state, "count": self.count,
            "lastSeen": iso(self.seen),
        }
        if self.last_trigger is not None:
            wire["lastTrigger"] = self.last_trigger
        if self.acknowledged_by is not None:
            wire["acknowledgedBy"] = self.acknowledged_by
        if self.acknowledged_at is not None:
            wire["acknowledgedAt"] = iso(self.acknowledged_at)
        if self.resolved_by is not None:
            wire["resolvedBy"] = self.resolved_by
        if self.resolved_at is not None:
            wire["resolvedAt"] = iso(self.resolved_at)
        wire.update(self.details)
        return wire

    @classmethod
    def from_wire(cls, data: Any) -> Alert:
        if not isinstance(data, Mapping):
            raise ValidationError("an alert must be an object")
        unknown = sorted(str(key) for key in set(data) - _CORE_FIELDS - set(DETAIL_FIELDS))
        if unknown:
            raise ValidationError(f"unknown alert field(s): {', '.join(unknown)}")
        kind = data.get("kind")
        if kind not in ALERT_KINDS:
            raise ValidationError(f"alert kind must be one of {', '.join(ALERT_KINDS)}")
        severity = data.get("severity")
        if severity not in SEVERITIES:
            raise ValidationError(f"alert severity must be one of {', '.join(SEVERITIES)}")
        for name in ("id", "riderId", "message"):
            if not isinstance(data.get(name), str):
                raise ValidationError(f"alert {name} must be a string")
        for name in ("acknowledgedBy", "resolvedBy", "lastTrigger"):
            if data.get(name) is not None and not isinstance(data[name], str):
                raise ValidationError(f"alert {name} must be a string")
        acked_at = data.get("acknowledgedAt")
        acknowledged_at = None if acked_at is None else parse_iso(acked_at, "acknowledgedAt")
        if data.get("acknowledged", acknowledged_at is not None) != (acknowledged_at is not None):
            raise ValidationError("alert acknowledged must match acknowledgedAt")
        resolved = data.get("resolvedAt")
        resolved_at = None if resolved is None else parse_iso(resolved, "resolvedAt")
        count = data.get("count", 1)
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValidationError("alert count must be a positive integer")
        seen = data.get("lastSeen")
        at = parse_iso(data.get("at"), "at")
        # An alert from before counts existed was seen once, when raised.
        last_seen = at if seen is None else parse_iso(seen, "lastSeen")
        alert = cls(data["id"], cast(AlertKind, kind), cast(Severity, severity),
                    data["riderId"], data["message"], at, _details(data),
                    data.get("acknowledgedBy"), acknowledged_at, count, last_seen,
                    data.get("lastTrigger"), data.get("resolvedBy"), resolved_at)
        if data.get("state", alert.state) != alert.state:
            raise ValidationError("alert state must match acknowledgedAt and resolvedAt")
        return alert


def _details(data: Mapping[str, Any]) -> dict[str, Any]:
    details: dict[str, Any] = {}
    for name, numeric in DETAIL_FIELDS.items():
        value = data.get(name)
        if value is None:
            continue
        if numeric:
            if isinstance(value, bool) or not isinstance(value, int | float) \
                    or not math.isfinite(value):
                raise ValidationError(f"alert {name} must be a finite number")
        elif not isinstance(value, str):
            raise ValidationError(f"alert {name} must be a string")
        details[name] = value
    return details


def new_alert(kind: AlertKind, rider_id: str, message: str, at: float, cause: str,
              **details: Any) -> Alert:
    """An open alert named after its cause; details are the wire's optional fields."""
    unknown = sorted(set(details) - set(DETAIL_FIELDS))
    if unknown:
        raise ValueError(f"unknown alert detail(s): {', '.join(unknown)}")
    at = to_millis(at)
    return Alert(alert_id(kind, rider_id, cause), kind, SEVERITY[kind], rider_id, message,
                 at, _details(details), last_seen=at)


class AlertBook:
    """Alerts by id with their lifecycle, bounded by ``max_alerts``.

    The bound holds whoever drives it (riders raise SOS alerts, their movements raise the
    others): past it the alert resolved longest ago goes first, then the one acknowledged
    longest ago, an open one (the oldest) only when there is neither. Trigger ids already
    folded in are remembered (at most ``2 * max_alerts``) so a trigger seen twice counts once.
    """

    def __init__(self, max_alerts: int = 10_000) -> None:
        if max_alerts <= 0:
            raise ValueError(f"max_alerts must be positive, got {max_alerts!r}")
        self.max_alerts = max_alerts
        self._alerts: dict[str, Alert] = {}
        # Arrival numbers break ties between alerts of the same millisecond.
        self._arrival: dict[str, int] = {}
        self._next = 0
        # Eviction order per state: oldest (or longest in that state) first.
        self._by_state: dict[AlertState, OrderedDict[str, None]] = {
            state: OrderedDict() for state in ALERT_STATES}
        # The open alert of each (rider, kind), where a repeat goes.
        self._open_for: dict[tuple[str, AlertKind], str] = {}
        self._triggers: OrderedDict[str, None] = OrderedDict()
        self._unresolved: dict[Severity, int] = dict.fromkeys(SEVERITIES, 0)
        # Each rider's unresolved alerts, so a rider reporting again resolves its own.
        self._unresolved_of: dict[str, set[str]] = {}

    # -- changes ----------------------------------------------------------------------

    def raised(self, trigger: Alert) -> Alert | None:
        """A new trigger, folded into the rider's open alert of its kind or kept as a new one;
        the alert as it stands now, or ``None`` if this trigger was seen already."""
        if trigger.id in self._triggers or trigger.id in self._alerts:
            return None
        self._remember(trigger.id)
        open_id = self._open_for.get((trigger.rider_id, trigger.kind))
        if open_id is None:
            self._keep(trigger)
            return trigger
        known = self._alerts[open_id]
        return self._set(replace(known, count=known.count + 1,
                                 last_seen=max(known.seen, trigger.seen),
                                 last_trigger=trigger.id, message=trigger.message,
                                 details={**known.details, **trigger.details}))

    def acknowledge(self, alert_id: str, by: str, at: float) -> Alert:
        """Acknowledge; an alert acknowledged (or resolved) already stays as it is."""
        alert = self.get(alert_id)
        if alert.acknowledged or alert.resolved:
            return alert
        return self._set(replace(alert, acknowledged_by=by, acknowledged_at=to_millis(at)))

    def resolve(self, alert_id: str, by: str, at: float) -> Alert:
        """Resolve; an alert resolved already keeps its first resolution."""
        alert = self.get(alert_id)
        if alert.resolved:
            return alert
        return self._set(replace(alert, resolved_by=by, resolved_at=to_millis(at)))

    def resolve_rider(self, rider_id: str, kinds: Iterable[AlertKind], by: str,
                      at: float) -> list[Alert]:
        """Resolve the rider's unresolved alerts of these kinds (what ended on its own)."""
        wanted = set(kinds)
        ids = [i for i in self._unresolved_of.get(rider_id, ())
               if self._alerts[i].kind in wanted]
        return [self.resolve(i, by, at) for i in sorted(ids, key=self._arrival.__getitem__)]

    def apply(self, alert: Alert) -> Alert:
        """An alert as another node (or this one, echoed) published it: raised, repeated,
        acknowledged or resolved. Merged so that every node converges whatever the order:
        the larger count and last time, the earliest acknowledgement and resolution."""
        if alert.last_trigger is not None:
            self._remember(alert.last_trigger)
        known = self._alerts.get(alert.id)
        if known is None:
            self._remember(alert.id)
            self._keep(alert)
            return alert
        merged = known
        if (alert.count, alert.seen) > (known.count, known.seen):
            merged = replace(merged, count=alert.count, last_seen=alert.seen,
                             last_trigger=alert.last_trigger, message=alert.message)
        if alert.acknowledged and (not known.acknowledged
                                   or _ack_key(alert) < _ack_key(known)):
            merged = replace(merged, acknowledged_by=alert.acknowledged_by,
                             acknowledged_at=alert.acknowledged_at)
        if alert.resolved and (not known.resolved
                               or _resolve_key(alert) < _resolve_key(known)):
            merged = replace(merged, resolved_by=alert.resolved_by,
                             resolved_at=alert.resolved_at)
        return merged if merged == known else self._set(merged)

    # -- reading ----------------------------------------------------------------------

    def get(self, alert_id: str) -> Alert:
        alert = self._alerts.get(alert_id)
        if alert is None:
            raise NotFound(f"no alert {alert_id!r}")
        return alert

    def recent(self, limit: int = 100, *, open_only: bool = False,
               states: Iterable[AlertState] | None = None,
               kinds: Iterable[AlertKind] | None = None,
               severities: Iterable[Severity] | None = None,
               by_severity: bool = False) -> list[Alert]:
        """Newest first (by the time each was raised), or the worst first and then the newest
        (``by_severity``); ``open_only`` is ``states=("open",)``."""
        chosen_states = set(states if states is not None else ALERT_STATES)
        if open_only:
            chosen_states &= {"open"}
        pool: Iterable[str] = (i for state in ALERT_STATES if state in chosen_states
                               for i in self._by_state[state])
        if kinds is not None or severities is not None:
            kind_set = set(kinds) if kinds is not None else set(ALERT_KINDS)
            severity_set = set(severities) if severities is not None else set(SEVERITIES)
            pool = [i for i in pool if self._alerts[i].kind in kind_set
                    and self._alerts[i].severity in severity_set]

        def newest(i: str) -> tuple[float, int]:
            return (self._alerts[i].at, self._arrival[i])

        if by_severity:
            ranked = heapq.nsmallest(max(0, limit), pool, key=lambda i: (
                SEVERITY_RANK[self._alerts[i].severity], -self._alerts[i].at,
                -self._arrival[i]))
            return [self._alerts[i] for i in ranked]
        return [self._alerts[i] for i in heapq.nlargest(max(0, limit), pool, key=newest)]

    def open_count(self) -> int:
        return len(self._by_state["open"])

    def counts(self) -> dict[str, int]:
        """Alerts by state, and the unresolved ones by severity."""
        counts: dict[str, int] = {state: len(ids) for state, ids in self._by_state.items()}
        for severity, count in self._unresolved.items():
            counts[severity] = count
        return counts

    def __len__(self) -> int:
        return len(self._alerts)

    # -- internals --------------------------------------------------------------------

    def _remember(self, trigger_id: str) -> None:
        self._triggers[trigger_id] = None
        while len(self._triggers) > 2 * self.max_alerts:
            self._triggers.popitem(last=False)

    def _keep(self, alert: Alert) -> None:
        self._alerts[alert.id] = alert
        self._arrival[alert.id] = self._next
        self._next += 1
        self._enter(alert)
        while len(self._alerts) > self.max_alerts:
            state = next(s for s in _EVICTION_ORDER if self._by_state[s])
            oldest, _ = self._by_state[state].popitem(last=False)
            gone = self._alerts.pop(oldest)
            del self._arrival[oldest]
            self._leave(gone, keep_order=True)

    def _set(self, changed: Alert) -> Alert:
        before = self._alerts[changed.id]
        self._alerts[changed.id] = changed
        if before.state != changed.state:
            self._leave(before)
            self._enter(changed)
        return changed

    def _enter(self, alert: Alert) -> None:
        self._by_state[alert.state][alert.id] = None
        if alert.state == "open":
            key = (alert.rider_id, alert.kind)
            current = self._open_for.get(key)
            if current is None or self._alerts[current].at <= alert.at:
                self._open_for[key] = alert.id
        if not alert.resolved:
            self._unresolved[alert.severity] += 1
            self._unresolved_of.setdefault(alert.rider_id, set()).add(alert.id)

    def _leave(self, alert: Alert, *, keep_order: bool = False) -> None:
        if not keep_order:
            self._by_state[alert.state].pop(alert.id, None)
        key = (alert.rider_id, alert.kind)
        if self._open_for.get(key) == alert.id:
            del self._open_for[key]
        if not alert.resolved:
            self._unresolved[alert.severity] -= 1
            ids = self._unresolved_of[alert.rider_id]
            ids.discard(alert.id)
            if not ids:
                del self._unresolved_of[alert.rider_id]


def _ack_key(alert: Alert) -> tuple[float, str]:
    return (alert.acknowledged_at or 0.0, alert.acknowledged_by or "")


def _resolve_key(alert: Alert) -> tuple[float, str]:
    return (alert.resolved_at or 0.0, alert.resolved_by or "")
