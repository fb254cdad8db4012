import json
from collections.abc import Callable

from yellowbox_realtime.core.hub import Batch, Hub, Outgoing, Sink, Wire


class Recorder:
    """A subscriber keeping each delivery (an event, or a batch of them) as it came."""

    def __init__(self) -> None:
        self.deliveries: list[Wire] = []

    @property
    def received(self) -> list[Outgoing]:
        return [event for wire in self.deliveries for event in wire.events]

    def deliver(self, message: Wire) -> None:
        self.deliveries.append(message)

    @property
    def sink(self) -> Sink:
        return self.deliver


class Turns:
    """Stands in for ``loop.call_soon``: the test says when the turn ends."""

    def __init__(self) -> None:
        self.callbacks: list[Callable[[], None]] = []

    def __call__(self, callback: Callable[[], None]) -> None:
        self.callbacks.append(callback)

    def end(self) -> None:
        callbacks, self.callbacks = self.callbacks, []
        for callback in callbacks:
            callback()


def test_publish_reaches_every_subscriber_once() -> None:
    hub = Hub()
    a, b = Recorder(), Recorder()
    hub.subscribe("rider_locations", a)
    hub.subscribe("rider_locations", b)
    assert not hub.subscribe("rider_locations", a)
    message = Outgoing("rider_location_update", [{"riderId": "r1"}])
    hub.publish(["rider_locations"], message)
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
    hub.publish(["role:admin", "user:u1"], message, frozenset({b}))
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
    hub.publish(["x"], Outgoing("e"))
    assert not a.received


def test_a_subscriber_leaving_during_delivery_does_not_break_the_fan_out() -> None:
    hub = Hub()

    class Leaver(Recorder):
        def deliver(self, message: Wire) -> None:
            super().deliver(message)
            hub.unsubscribe("x", self)

    subs = [Leaver() for _ in range(3)]
    for sub in subs:
        hub.subscribe("x", sub)
    hub.publish(["x"], Outgoing("e"))
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


def test_a_turns_publishes_reach_each_subscriber_as_one_batch_in_order() -> None:
    turns = Turns()
    hub = Hub(defer=turns)
    a, b = Recorder(), Recorder()
    hub.subscribe("x", a)
    hub.subscribe("x", b)
    events = [Outgoing("e", [n]) for n in range(3)]
    for event in events:
        hub.publish(["x"], event)
    assert not a.deliveries
    assert len(turns.callbacks) == 1
    turns.end()
    assert len(a.deliveries) == 1
    assert a.deliveries[0] is b.deliveries[0]
    batch = a.deliveries[0]
    assert isinstance(batch, Batch)
    assert a.received == events
    assert batch.websocket == b"".join(e.websocket for e in events)
    assert batch.polling == b"\x1e".join(e.polling for e in events)
    assert batch.sse == b"".join(e.sse for e in events)
    assert hub.counters.deliveries == 6
    assert hub.counters.publishes == 3


def test_publishes_to_other_channels_keep_their_order_for_a_member_of_both() -> None:
    turns = Turns()
    hub = Hub(defer=turns)
    both, only_x = Recorder(), Recorder()
    hub.subscribe("x", both)
    hub.subscribe("y", both)
    hub.subscribe("x", only_x)
    first, second, third = Outgoing("e", [1]), Outgoing("e", [2]), Outgoing("e", [3])
    hub.publish(["x"], first)
    hub.publish(["y"], second)
    hub.publish(["x"], third)
    turns.end()
    assert both.received == [first, second, third]
    assert only_x.received == [first, third]


def test_exclusions_split_batches() -> None:
    turns = Turns()
    hub = Hub(defer=turns)
    a, b = Recorder(), Recorder()
    hub.subscribe("x", a)
    hub.subscribe("x", b)
    hub.publish(["x"], Outgoing("e", [1]), frozenset({a}))
    hub.publish(["x"], Outgoing("e", [2]))
    turns.end()
    assert [e.args for e in a.received] == [(2,)]
    assert [e.args for e in b.received] == [(1,), (2,)]


def test_a_subscriber_gets_exactly_what_was_published_while_it_was_subscribed() -> None:
    turns = Turns()
    hub = Hub(defer=turns)
    leaving, joining = Recorder(), Recorder()
    hub.subscribe("x", leaving)
    before = Outgoing("e", ["before"])
    hub.publish(["x"], before)
    hub.subscribe("x", joining)
    hub.unsubscribe("x", leaving)
    after = Outgoing("e", ["after"])
    hub.publish(["x"], after)
    turns.end()
    assert leaving.received == [before]
    assert joining.received == [after]


def test_listeners_hear_each_event_when_it_is_published() -> None:
    turns = Turns()
    hub = Hub(defer=turns)
    heard: list[Outgoing] = []
    hub.listen("x", heard.append)
    hub.listen("y", heard.append)
    event = Outgoing("e")
    hub.publish(["x", "y"], event)
    assert heard == [event]
    assert hub.count("x") == 1
    hub.unlisten("x", heard.append)
    hub.unlisten("y", heard.append)
    assert not list(hub.channels())


def test_a_publish_made_by_a_delivery_goes_out_after_what_was_pending() -> None:
    turns = Turns()
    hub = Hub(defer=turns)
    late = Outgoing("late")

    class Reacting(Recorder):
        def deliver(self, message: Wire) -> None:
            super().deliver(message)
            if first in message.events:
                hub.publish(["y"], late)

    first, second = Outgoing("e", [1]), Outgoing("e", [2])
    reacting, other = Reacting(), Recorder()
    hub.subscribe("x", reacting)
    hub.subscribe("y", reacting)
    hub.subscribe("x", other)
    hub.publish(["x"], first)
    hub.publish(["y"], second)
    turns.end()
    assert reacting.received == [first, second, late]
    assert other.received == [first]
