"""Routing rules: which events go to which route, and the [outbox] checks behind them."""

from __future__ import annotations

import re
from typing import Any

import pytest

from yellowbox_realtime.config import Config, OutboxConfig
from yellowbox_realtime.errors import ConfigError
from yellowbox_realtime.outbox.event import OutboxEvent
from yellowbox_realtime.outbox.rules import Condition, Rules


def rules(**tables: dict[str, Any]) -> Rules:
    names = {name for table in tables.values() for name in table} | {"all"}
    section: dict[str, Any] = {"urls": {n: f"http://127.0.0.1:1/{n}" for n in names},
                               "secrets": {n: "s" for n in names}, **tables}
    return Rules.from_config(Config.from_mapping({"outbox": section}).outbox)


def event(name: str = "expense_status_change", *channels: str, data: Any = None) -> OutboxEvent:
    return OutboxEvent("e:1", name, channels or ("expense_updates",), data, 0.0)


def taken_by(r: Rules, e: OutboxEvent) -> dict[str, str]:
    return {route.name: channel for route, channel in r.match(e)}


def test_a_route_without_conditions_takes_every_event_on_its_first_channel() -> None:
    r = rules()
    assert taken_by(r, event("x", "a", "b")) == {"all": "a"}


def test_events_by_name() -> None:
    r = rules(events={"expenses": ["expense_status_change", "expense_submitted"]})
    assert "expenses" in taken_by(r, event("expense_submitted"))
    assert "expenses" not in taken_by(r, event("rider_location_update"))


def test_channels_exact_or_by_prefix_and_the_channel_it_matched_on() -> None:
    r = rules(channels={"users": ["user:"], "alerts": ["alerts"]})
    assert taken_by(r, event("task", "role:rider", "user:r-1")) == {
        "all": "role:rider", "users": "user:r-1"}
    assert "alerts" in taken_by(r, event("sos", "alerts"))
    # An exact name is not a prefix.
    assert "alerts" not in taken_by(r, event("sos", "alerts2"))
    assert "users" not in taken_by(r, event("task", "user"))


def test_roles_name_role_channels_and_combine_with_channels_as_either() -> None:
    r = rules(roles={"ops": ["operations"]}, channels={"ops": ["alerts"]})
    assert taken_by(r, event("x", "role:operations"))["ops"] == "role:operations"
    assert taken_by(r, event("x", "alerts"))["ops"] == "alerts"
    assert "ops" not in taken_by(r, event("x", "role:finance"))


@pytest.mark.parametrize(("condition", "data", "holds"), [
    ("status = approved", {"status": "approved"}, True),
    ("status = approved", {"status": "rejected"}, False),
    ('status = "approved"', {"status": "approved"}, True),
    ("amount = 120.5", {"amount": 120.5}, True),
    ("amount = 120", {"amount": "120"}, False),
    ("rider.zone = marina", {"rider": {"zone": "marina"}}, True),
    ("rider.zone = marina", {"rider": "marina"}, False),
    ("rider.zone = marina", {}, False),
    ("items.0.sku = a1", {"items": [{"sku": "a1"}]}, True),
    ("items.3.sku = a1", {"items": [{"sku": "a1"}]}, False),
    ("urgent = true", {"urgent": True}, True),
    ("urgent = true", {"urgent": 1}, False),
    ("count = 1", {"count": True}, False),
    ("note = null", {"note": None}, True),
    ("note = null", {}, False),
    ("status = approved", ["not", "an", "object"], False),
])
def test_field_conditions(condition: str, data: Any, holds: bool) -> None:
    assert Condition.parse(condition).holds(data) is holds


def test_may_take_looks_at_names_and_channels_only() -> None:
    r = rules(events={"all": ["sos"]}, channels={"all": ["alerts", "user:"]},
              match={"all": ["level = high"]})
    assert r.may_take("sos", ["alerts"])
    assert r.may_take("sos", ["dashboard", "user:r-1"])
    assert not r.may_take("sos", ["dashboard"])
    assert not r.may_take("rider_location_update", ["alerts"])
    # The data is looked at later: this event passes the first check and no route takes it.
    assert taken_by(r, event("sos", "alerts", data={"level": "low"})) == {}


def test_every_condition_must_hold() -> None:
    r = rules(events={"big": ["expense_status_change"]},
              match={"big": ["status = approved", "amount = 500"]})
    assert "big" in taken_by(r, event(data={"status": "approved", "amount": 500}))
    assert "big" not in taken_by(r, event(data={"status": "approved", "amount": 20}))
    assert "big" not in taken_by(r, event("other", data={"status": "approved", "amount": 500}))


def test_the_outbox_is_off_without_routes_or_when_disabled() -> None:
    assert not OutboxConfig().active
    on = {"urls": {"a": "http://127.0.0.1:1/"}, "secrets": {"a": "s"}}
    assert Config.from_mapping({"outbox": on}).outbox.active
    assert not Config.from_mapping({"outbox": {**on, "enabled": False}}).outbox.active


@pytest.mark.parametrize(("section", "needle"), [
    ({"urls": {"a": "ftp://x"}, "secrets": {"a": "s"}}, "outbox.urls.a: expected an http(s)"),
    ({"urls": {"a": "http://x/"}}, "outbox.secrets.a: every route needs"),
    ({"urls": {"a b": "http://x/"}, "secrets": {"a b": "s"}}, "outbox.urls.a b: route names"),
    ({"urls": {"a": "http://x/"}, "secrets": {"a": "s"}, "events": {"b": ["e"]}},
     "outbox.events.b: no such route"),
    ({"urls": {"a": "http://x/"}, "secrets": {"a": "s"}, "channels": {"a": []}},
     "outbox.channels.a: expected a list of non-empty"),
    ({"urls": {"a": "http://x/"}, "secrets": {"a": "s"}, "match": {"a": ["status"]}},
     "outbox.match.a: expected 'field = value'"),
    ({"urls": {"a": "http://x/"}, "secrets": {"a": "s"}, "match": {"a": ["= x"]}},
     "outbox.match.a"),
    ({"concurrency": 0}, "outbox.concurrency: must be positive"),
    ({"backoff_base_s": 10, "backoff_cap_s": 1}, "outbox.backoff_cap_s"),
    ({"urls": "http://x/"}, "outbox.urls: expected a table"),
])
def test_invalid_outbox_settings_name_the_key(section: dict[str, Any], needle: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(needle)):
        Config.from_mapping({"outbox": section})
