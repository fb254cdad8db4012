"""The memory broker: numbering, history, delivery to the hub, idempotency."""

from __future__ import annotations

from collections.abc import Callable

from yellowbox_realtime.core.broker import MemoryBroker
from yellowbox_realtime.core.history import HistoryLimits
from yellowbox_realtime.core.hub import Hub, Outgoing, Sink, Wire
from yellowbox_realtime.core.idempotency import IdempotencyKey, IdempotencyTable
from yellowbox_realtime.messages import StreamPosition


class Inbox:
    def __init__(self) -> None:
        self.received: list[Outgoing] = []

    def deliver(self, message: Wire) -> None:
        self.received.extend(message.events)

    @property
    def sink(self) -> Sink:
        return self.deliver


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now



def key(name: str) -> IdempotencyKey:
    return IdempotencyKey("test", name)

def make(clock: Callable[[], float] | None = None, *, idempotency_window_s: float = 60.0,
         stamp_socketio: bool = True) -> tuple[MemoryBroker, Inbox]:
    hub = Hub()
    inbox = Inbox()
    hub.subscribe("a", inbox)
    clock = clock or Clock()
    broker = MemoryBroker(hub, HistoryLimits(10, 60.0), clock=clock,
                          keys=IdempotencyTable(window_s=idempotency_window_s, clock=clock),
                          stamp_socketio=stamp_socketio)
    return broker, inbox


def test_publishing_numbers_keeps_and_delivers() -> None:
    broker, inbox = make()
    broker.publish_nowait(["a"], Outgoing("e", ({"n": 1},)))
    broker.publish_nowait(["b"], Outgoing("e", ({"n": 2},)))
    assert [m.offset for m in inbox.received] == [1]
    assert inbox.received[0].stamped
    assert inbox.received[0].text.endswith(f',"{broker.position().epoch}:1"]')
    assert broker.position() == StreamPosition(broker.position().epoch, 2)


async def test_since_returns_what_the_channels_published() -> None:
    broker, _ = make()
    for channel in ("a", "b", "a"):
        broker.publish_nowait([channel], Outgoing("e"))
    recovery = await broker.since(["a"], StreamPosition(broker.position().epoch, 1))
    assert [m.offset for m in recovery.entries] == [3]
    assert recovery.complete


async def test_a_retried_publish_with_the_same_key_is_delivered_once() -> None:
    clock = Clock()
    broker, inbox = make(clock, idempotency_window_s=60.0)
    first = await broker.publish(["a"], Outgoing("e"), idempotency_key=key("k1"))
    again = await broker.publish(["a"], Outgoing("e"), idempotency_key=key("k1"))
    assert first == again
    assert len(inbox.received) == 1
    clock.now = 61.0
    later = await broker.publish(["a"], Outgoing("e"), idempotency_key=key("k1"))
    assert later.offset == first.offset + 1
    assert len(inbox.received) == 2



async def test_the_idempotency_table_holds_at_most_its_cap_and_forgets_the_oldest() -> None:
    hub = Hub()
    inbox = Inbox()
    hub.subscribe("a", inbox)
    clock = Clock()
    broker = MemoryBroker(hub, HistoryLimits(10, 60.0), clock=clock,
                          keys=IdempotencyTable(max_keys=3, clock=clock))
    for n in range(10):
        await broker.publish(["a"], Outgoing("e"), idempotency_key=key(f"k{n}"))
    assert len(broker.keys) == 3
    await broker.publish(["a"], Outgoing("e"), idempotency_key=key("k9"))
    assert len(inbox.received) == 10
    # Pushed out: a retry of the oldest key is published again.
    await broker.publish(["a"], Outgoing("e"), idempotency_key=key("k0"))
    assert len(inbox.received) == 11

def test_without_recovery_socketio_shapes_carry_no_offset() -> None:
    broker, inbox = make(stamp_socketio=False)
    broker.publish_nowait(["a"], Outgoing("e", (1,)))
    assert inbox.received[0].text == '2["e",1]'
    assert b"id: " in inbox.received[0].sse
