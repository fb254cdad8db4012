"""Alerts: what operations must look at, with an id, a severity, a time and an ack state.

Pure: times are float UNIX seconds passed in; nothing here does I/O.

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
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal, cast

from ..errors import NotFound, ValidationError
from .wiretime import iso, parse_iso, to_millis

__all__ = ["ALERT_KINDS", "DETAIL_FIELDS", "SEVERITY", "Alert", "AlertBook", "AlertKind",
           "Severity", "alert_id", "new_alert"]

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
_CORE_FIELDS = frozenset({"id", "kind", "severity", "riderId", "message", "at",
                          "acknowledged", "acknowledgedBy", "acknowledgedAt"})


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

    @property
    def acknowledged(self) -> bool:
        return self.acknowledged_at is not None

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {
            "id": self.id, "kind": self.kind, "severity": self.severity,
            "riderId": self.rider_id, "message": self.message, "at": iso(self.at),
            "acknowledged": self.acknowledged,
        }
        if self.acknowledged_by is not None:
            wire["acknowledgedBy"] = self.acknowledged_by
        if self.acknowledged_at is not None:
            wire["acknowledgedAt"] = iso(self.acknowledged_at)
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
        by = data.get("acknowledgedBy")
        if by is not None and not isinstance(by, str):
            raise ValidationError("alert acknowledgedBy must be a string")
        acked_at = data.get("acknowledgedAt")
        acknowledged_at = None if acked_at is None else parse_iso(acked_at, "acknowledgedAt")
        if data.get("acknowledged", acknowledged_at is not None) != (acknowledged_at is not None):
            raise ValidationError("alert acknowledged must match acknowledgedAt")
        return cls(data["id"], cast(AlertKind, kind), cast(Severity, severity),
                   data["riderId"], data["message"], parse_iso(data.get("at"), "at"),
                   _details(data), by, acknowledged_at)


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
    return Alert(alert_id(kind, rider_id, cause), kind, SEVERITY[kind], rider_id, message,
                 to_millis(at), _details(details))


class AlertBook:
    """Recent alerts by id, bounded: past ``max_alerts`` the alert acknowledged longest ago
    goes first, an open one (the oldest) only when none is acknowledged."""

    def __init__(self, max_alerts: int = 10_000) -> None:
        if max_alerts <= 0:
            raise ValueError(f"max_alerts must be positive, got {max_alerts!r}")
        self.max_alerts = max_alerts
        self._alerts: dict[str, Alert] = {}
        # Arrival numbers break ties between alerts of the same millisecond.
        self._arrival: dict[str, int] = {}
        self._next = 0
        self._open: OrderedDict[str, None] = OrderedDict()      # oldest first
        self._acked: OrderedDict[str, None] = OrderedDict()     # acknowledged longest ago first

    def add(self, alert: Alert) -> bool:
        """Keep a new alert; ``False`` if one with its id is known (the same event again)."""
        if alert.id in self._alerts:
            return False
        self._alerts[alert.id] = alert
        self._arrival[alert.id] = self._next
        self._next += 1
        (self._acked if alert.acknowledged else self._open)[alert.id] = None
        while len(self._alerts) > self.max_alerts:
            oldest, _ = (self._acked or self._open).popitem(last=False)
            del self._alerts[oldest], self._arrival[oldest]
        return True

    def acknowledge(self, alert_id: str, by: str, at: float) -> Alert:
        """Acknowledge; an alert acknowledged already keeps its first acknowledgement."""
        alert = self.get(alert_id)
        if alert.acknowledged:
            return alert
        return self._set(replace(alert, acknowledged_by=by, acknowledged_at=to_millis(at)))

    def apply_acknowledged(self, alert: Alert) -> None:
        """An acknowledgement made elsewhere (an ``alert_acknowledged`` event).

        Two nodes may acknowledge the same alert at once; each keeps the earlier
        acknowledgement, so both end up with the same one whatever order the events came in.
        An alert not known here (its ``alert`` event was missed or evicted) is added.
        """
        if not alert.acknowledged:
            raise ValidationError("an acknowledged alert needs acknowledgedAt")
        known = self._alerts.get(alert.id)
        if known is None:
            self.add(alert)
            return
        if known.acknowledged and _ack_key(known) <= _ack_key(alert):
            return
        self._set(replace(known, acknowledged_by=alert.acknowledged_by,
                          acknowledged_at=alert.acknowledged_at))

    def get(self, alert_id: str) -> Alert:
        alert = self._alerts.get(alert_id)
        if alert is None:
            raise NotFound(f"no alert {alert_id!r}")
        return alert

    def recent(self, limit: int = 100, *, open_only: bool = False) -> list[Alert]:
        """Newest first (by the time each was raised)."""
        ids = self._open if open_only else self._alerts
        chosen = heapq.nlargest(max(0, limit), ids,
                                key=lambda i: (self._alerts[i].at, self._arrival[i]))
        return [self._alerts[i] for i in chosen]

    def open_count(self) -> int:
        return len(self._open)

    def __len__(self) -> int:
        return len(self._alerts)

    def _set(self, acknowledged: Alert) -> Alert:
        self._alerts[acknowledged.id] = acknowledged
        self._open.pop(acknowledged.id, None)
        self._acked[acknowledged.id] = None
        self._acked.move_to_end(acknowledged.id)
        return acknowledged


def _ack_key(alert: Alert) -> tuple[float, str]:
    return (alert.acknowledged_at or 0.0, alert.acknowledged_by or "")
