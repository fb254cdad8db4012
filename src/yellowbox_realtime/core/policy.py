"""Authorization as one declarative table.

Which role may subscribe to which channel, and publish which event (or take which action
through the HTTP API with their own token). The seed's rules are the defaults: riders publish
their own location; admin and operations see rider locations; admin, finance and operations
see expense updates. Beyond the seed: riders raise an SOS; admin and operations watch the
fleet, alerts and geofences, acknowledge alerts and manage geofences; finance and admin
change expenses. Personal channels need no rule:
``user:<uid>`` is readable by that user only and ``role:<role>`` by that role only.
Configuration may replace any entry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from ..errors import ForbiddenError
from ..messages import Credentials

ROLES = ("rider", "admin", "operations", "finance")

DEFAULT_SUBSCRIBE: Mapping[str, frozenset[str]] = MappingProxyType({
    "rider_locations": frozenset({"admin", "operations"}),
    "expense_updates": frozenset({"admin", "finance", "operations"}),
    "dashboard": frozenset({"admin", "operations", "finance"}),
    "fleet": frozenset({"admin", "operations"}),
    "alerts": frozenset({"admin", "operations"}),
    "geofences": frozenset({"admin", "operations"}),
    "orders": frozenset({"admin", "finance", "operations"}),
    # Rider profiles as Firestore changes them (the Firebase webhook).
    "riders": frozenset({"admin", "operations"}),
})

# Events and actions, over Socket.IO or the HTTP API with a user's token alike.
DEFAULT_PUBLISH: Mapping[str, frozenset[str]] = MappingProxyType({
    "publish_location": frozenset({"rider"}),
    "rider_sos": frozenset({"rider"}),
    "acknowledge_alert": frozenset({"admin", "operations"}),
    "manage_geofences": frozenset({"admin", "operations"}),
    "expense_status_change": frozenset({"admin", "finance"}),
    "order_status_change": frozenset({"admin", "finance", "operations"}),
})


@dataclass(frozen=True, slots=True)
class Policy:
    subscribe: Mapping[str, frozenset[str]] = field(default_factory=lambda: DEFAULT_SUBSCRIBE)
    publish: Mapping[str, frozenset[str]] = field(default_factory=lambda: DEFAULT_PUBLISH)

    def roles(self) -> tuple[str, ...]:
        """The built-in roles, then any other the table names (configuration may add one)."""
        named = {role for roles in (*self.subscribe.values(), *self.publish.values())
                 for role in roles}
        return (*ROLES, *sorted(named - set(ROLES)))

    @classmethod
    def with_overrides(cls, subscribe: Mapping[str, tuple[str, ...]],
                       publish: Mapping[str, tuple[str, ...]]) -> Policy:
        """The defaults with some entries replaced (from configuration)."""
        return cls(
            subscribe={**DEFAULT_SUBSCRIBE, **{k: frozenset(v) for k, v in subscribe.items()}},
            publish={**DEFAULT_PUBLISH, **{k: frozenset(v) for k, v in publish.items()}},
        )

    def can_subscribe(self, who: Credentials, channel: str) -> bool:
        kind, _, name = channel.partition(":")
        if kind == "user" and name:
            return who.uid == name
        if kind == "role" and name:
            return who.role == name
        return who.role in self.subscribe.get(channel, frozenset())

    def allows_room(self, who: Credentials, room: str) -> bool:
        """Whether ``who`` may stay in ``room``, asked again whenever a connection's
        credentials change (a refreshed token, a recovered session). Rooms the policy does
        not govern (an application's own) are the application's business: allowed."""
        kind, _, name = room.partition(":")
        if room in self.subscribe or (kind in ("user", "role") and name):
            return self.can_subscribe(who, room)
        return True

    def check_subscribe(self, who: Credentials, channel: str) -> None:
        if channel not in self.subscribe and ":" not in channel:
            raise ForbiddenError(f"unknown channel {channel!r}")
        if not self.can_subscribe(who, channel):
            raise ForbiddenError(f"role {who.role!r} may not subscribe to {channel!r}")

    def check_publish(self, who: Credentials, event: str) -> None:
        allowed = self.publish.get(event)
        if allowed is None:
            raise ForbiddenError(f"event {event!r} cannot be published by clients")
        if who.role not in allowed:
            raise ForbiddenError(f"role {who.role!r} may not publish {event!r}")
