import json
from collections.abc import Callable

from yellowbox_realtime.core.hub import Hub, Outgoing


class Recorder:
    def __init__(self) -> None:
        self.received: list[Outgoing] = []

    def deliver(self, message: Outgoing) -> None:
        self.received.append(message)

    @property
    def sink(self) -> Callable[[Outgoing], None]:
        return self.deliver


def test_publish_reaches_every_subscriber_once() -> None:
    hub = Hub()
    a, b = Recorder(), Recorder()
    hub.subscribe("rider_locations", a)
    hub.subscribe("rider_locations", b)
    assert not hub.subscribe("rider_locations", a)
    message = Outgoing("rider_location_update", [{"riderId": "r1"}])
    assert hub.publish(["rider_locations"], message) == 2
    assert a.received == [message]
    assert b.received == [message]


def test_union_of_channels_delivers_once_and_honours_exclusions() -> None:
    hub = Hub()
    a, b, c = Recorder(), Recorder(), Recorder()
    for sub in (a, b):
        hub.subscribe("role:admin", sub)
    hub.subscribe("user:u1", a)
    hub.subscribe("user:u1", c)
    message = Outgoing("notice", ["hi"])
    assert hub.publish(["role:admin", "user:u1"], message, frozenset({b})) == 2
    assert len(a.received) == 1
    assert not b.received
    assert len(c.received) == 1


def test_unsubscribe_removes_empty_channels() -> None:
    hub = Hub()
    a = Recorder()
    hub.subscribe("x", a)
    assert hub.unsubscribe("x", a)
    assert not hub.unsubscribe("x", a)
    assert hub.count("x") == 0
    assert "x" not in hub.channels()
    assert hub.publish(["x"], Outgoing("e")) == 0


def test_a_subscriber_leaving_during_delivery_does_not_break_the_fan_out() -> None:
    hub = Hub()

    class Leaver(Recorder):
        def deliver(self, message: Outgoing) -> None:
            super().deliver(message)
            hub.unsubscribe("x", self)

    subs = [Leaver() for _ in range(3)]
    for sub in subs:
        hub.subscribe("x", sub)
    assert hub.publish(["x"], Outgoing("e")) == 3
    assert all(len(s.received) == 1 for s in subs)


def test_outgoing_encodes_each_shape_once_and_shares_the_bytes() -> None:
    message = Outgoing("rider_location_update", [{"riderId": "r1", "latitude": 25.2}])
    frames = message.websocket
    assert message.websocket is frames
    assert message.polling is message.polling
    # Unmasked text frame with a 7-bit length, carrying "42[...]".
    assert frames[0] == 0x81
    assert frames[1] == len(frames) - 2
    assert frames[2:4] == b"42"
    assert json.loads(frames[4:]) == ["rider_location_update", {"riderId": "r1",
                                                                "latitude": 25.2}]
    assert message.polling == frames[2:]


def test_outgoing_in_a_custom_namespace_and_with_binary() -> None:
    message = Outgoing("photo", [b"\x00\x01"], nsp="/admin")
    assert message.polling.startswith(b'451-/admin,["photo",{"_placeholder":true,"num":0}]')
    assert message.polling.endswith(b"\x1ebAAE=")
    frames = message.websocket
    assert frames.endswith(b"\x82\x02\x00\x01")  # a binary frame with the attachment


def test_hooks_hear_a_channel_become_active_and_idle_once() -> None:
    hub = Hub()
    events: list[tuple[str, str]] = []
    hub.on_active = lambda channel: events.append(("active", channel))
    hub.on_idle = lambda channel: events.append(("idle", channel))
    first, second = Recorder(), Recorder()
    hub.subscribe("a", first)
    hub.subscribe("a", second)
    hub.subscribe("a", first)
    hub.unsubscribe("a", first)
    hub.unsubscribe("a", first)
    hub.unsubscribe("a", second)
    hub.subscribe("a", first)
    assert events == [("active", "a"), ("idle", "a"), ("active", "a")]
