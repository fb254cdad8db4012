"""Routing rules: which published events go to which webhook. Pure.

Built from ``[outbox]`` (already validated there). A route takes an event when all of its
conditions hold (see :class:`~yellowbox_realtime.config.OutboxConfig`); roles are a short
way of naming ``role:<r>`` channels, so ``channels`` and ``roles`` together mean "any of
these channels". An event goes to every route that takes it, once per route.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..config import OUTBOX_CONDITION, OutboxConfig
from ..core.channels import role_channel
from ..errors import ConfigError
from .event import OutboxEvent

_MISSING = object()


@dataclass(frozen=True, slots=True)
class Condition:
    """``path = value`` on the event's data: ``path`` walks objects by key and lists by
    index; the value is compared by JSON type (``true`` does not equal ``1``)."""

    path: tuple[str, ...]
    value: Any

    @classmethod
    def parse(cls, text: str) -> Condition:
        found = OUTBOX_CONDITION.fullmatch(text)
        if found is None:
            raise ConfigError(f"expected 'field = value', got {text!r}")
        raw = found["value"]
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw  # a bare word: status = approved
        return cls(tuple(found["path"].split(".")), value)

    def holds(self, data: Any) -> bool:
        node = data
        for step in self.path:
            if isinstance(node, dict):
                node = node.get(step, _MISSING)
            elif isinstance(node, list) and step.isdigit() and int(step) < len(node):
                node = node[int(step)]
            else:
                return False
        return _same(node, self.value)


@dataclass(frozen=True, slots=True)
class Route:
    """A webhook and the events it takes."""

    name: str
    url: str
    secret: str
    events: frozenset[str] | None = None
    channels: tuple[str, ...] | None = None
    conditions: tuple[Condition, ...] = ()

    def takes_name_and_channels(self, event: str, channels: Sequence[str]) -> bool:
        if self.events is not None and event not in self.events:
            return False
        return self.channels is None or any(self._on(channel) for channel in channels)

    def _on(self, channel: str) -> bool:
        assert self.channels is not None
        return any(channel == p or (p.endswith(":") and channel.startswith(p))
                   for p in self.channels)

    def channel_for(self, event: OutboxEvent) -> str | None:
        """The channel the route takes the event on (its first matching one), or None."""
        if self.events is not None and event.event not in self.events:
            return None
        if not all(c.holds(event.data) for c in self.conditions):
            return None
        if self.channels is None:
            return event.channels[0] if event.channels else ""
        return next((channel for channel in event.channels if self._on(channel)), None)


class Rules:
    def __init__(self, routes: Sequence[Route]) -> None:
        self.routes = {route.name: route for route in routes}

    @classmethod
    def from_config(cls, config: OutboxConfig) -> Rules:
        routes = []
        for name, url in config.urls.items():
            channels: list[str] | None = None
            if name in config.channels or name in config.roles:
                channels = [*config.channels.get(name, ()),
                            *(role_channel(role) for role in config.roles.get(name, ()))]
            events = config.events.get(name)
            routes.append(Route(
                name, url, config.secrets[name],
                frozenset(events) if events is not None else None,
                tuple(channels) if channels is not None else None,
                tuple(Condition.parse(text) for text in config.match.get(name, ()))))
        return cls(routes)

    def may_take(self, event: str, channels: Sequence[str]) -> bool:
        """Whether some route could take an event of this name on these channels (its data
        not looked at): a cheap first check, so events no route wants cost next to nothing."""
        return any(route.takes_name_and_channels(event, channels)
                   for route in self.routes.values())

    def match(self, event: OutboxEvent) -> list[tuple[Route, str]]:
        """Every route that takes the event, with the channel it takes it on."""
        matched = []
        for route in self.routes.values():
            channel = route.channel_for(event)
            if channel is not None:
                matched.append((route, channel))
        return matched


def _same(a: Any, b: Any) -> bool:
    # JSON types: Python's True == 1 would let "active = true" match a count of 1.
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return bool(a == b)
