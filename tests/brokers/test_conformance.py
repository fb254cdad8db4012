"""One suite, every broker: what the Broker Protocol promises (core/broker.py).

Each test runs against the memory broker and the Redis broker (a real redis-server), on
both event loops. History ages use the fixture's clock, so no test waits for time to pass.
"""

from __future__ import annotations

from yellowbox_realtime.core.history import HistoryLimits
from yellowbox_realtime.core.hub import Outgoing
from yellowbox_realtime.core.idempotency import IdempotencyKey
from yellowbox_realtime.messages import StreamPosition

from .conftest import Clock, MakeBroker, Recorder


def event(n: int, name: str = "tick") -> Outgoing:
    return Outgoing(name, ({"n": n},))


async def test_offsets_are_one_gap_free_stream_across_channels(make_broker: MakeBroker) -> None:
    _, broker = await make_broker()
    start = broker.position()
    positions = [await broker.publish([channel], event(i))
                 for i, channel in enumerate(["a", "b", "a", "c"])]
    assert [p.offset for p in positions] == [start.offset + i for i in range(1, 5)]
    assert {p.epoch for p in positions} == {start.epoch}
    assert broker.position() == positions[-1]
    assert broker.published == 4


async def test_publishes_reach_subscribers_in_order_whichever_method(
        make_broker: MakeBroker) -> None:
    hub, broker = await make_broker()
    recorder = Recorder()
    hub.subscribe("a", recorder)
    for i in range(60):
        if i % 10 == 9:
            await broker.publish(["a"], event(i))
        else:
            broker.publish_nowait(["a"], event(i))
    received = await recorder.wait_for(60)
    assert [m.args[0]["n"] for m in received] == list(range(60))
    offsets = recorder.offsets
    assert offsets == list(range(offsets[0], offsets[0] + 60))


async def test_an_event_on_several_channels_reaches_each_subscriber_once(
        make_broker: MakeBroker) -> None:
    hub, broker = await make_broker()
    both, only_b = Recorder(), Recorder()
    hub.subscribe("a", both)
    hub.subscribe("b", both)
    hub.subscribe("b", only_b)
    await broker.publish(["a", "b"], event(1))
    await broker.publish(["b"], event(2))
    await only_b.wait_for(2)
    await both.wait_for(2)
    assert [m.args[0]["n"] for m in both.received] == [1, 2]
    assert [m.args[0]["n"] for m in only_b.received] == [1, 2]


async def test_exclude_skips_those_subscribers(make_broker: MakeBroker) -> None:
    hub, broker = await make_broker()
    sender, other = Recorder(), Recorder()
    hub.subscribe("a", sender)
    hub.subscribe("a", other)
    broker.publish_nowait(["a"], event(1), frozenset({sender}))
    broker.publish_nowait(["a"], event(2))
    await other.wait_for(2)
    await sender.wait_for(1)
    assert [m.args[0]["n"] for m in sender.received] == [2]


async def test_unsubscribed_subscribers_get_nothing_more(make_broker: MakeBroker) -> None:
    hub, broker = await make_broker()
    leaving, staying = Recorder(), Recorder()
    hub.subscribe("a", leaving)
    hub.subscribe("a", staying)
    await broker.publish(["a"], event(1))
    await leaving.wait_for(1)
    hub.unsubscribe("a", leaving)
    await broker.publish(["a"], event(2))
    await staying.wait_for(2)
    assert [m.args[0]["n"] for m in leaving.received] == [1]


async def test_since_returns_what_was_missed_in_order(make_broker: MakeBroker) -> None:
    _, broker = await make_broker()
    first = await broker.publish(["a"], event(1))
    await broker.publish(["b"], event(2))
    await broker.publish(["a", "b"], event(3))
    await broker.publish(["c"], event(4))
    recovery = await broker.since(["a", "b"], first)
    assert recovery.complete
    assert [m.args[0]["n"] for m in recovery.entries] == [2, 3]
    assert recovery.position == broker.position()
    assert (await broker.since(["a"], recovery.position)).entries == []
    never = await broker.since(["nobody"], StreamPosition(first.epoch, 0))
    assert never.complete
    assert never.entries == []


async def test_since_carries_what_it_read_as_the_placed_event(make_broker: MakeBroker) -> None:
    _, broker = await make_broker()
    start = broker.position()
    position = await broker.publish(["a"], Outgoing("note", ({"x": [1, "two"]}, 3)))
    [entry] = (await broker.since(["a"], start)).entries
    assert (entry.event, entry.args, entry.nsp) == ("note", ({"x": [1, "two"]}, 3), "/")
    assert entry.id == str(position)


async def test_count_limit_trims_and_reports_the_gap(make_broker: MakeBroker) -> None:
    _, broker = await make_broker(HistoryLimits(3, 300.0))
    start = broker.position()
    positions = [await broker.publish(["a"], event(i)) for i in range(5)]
    trimmed = await broker.since(["a"], start)
    assert not trimmed.complete
    assert [m.offset for m in trimmed.entries] == [p.offset for p in positions[2:]]
    kept = await broker.since(["a"], positions[1])
    assert kept.complete
    assert [m.offset for m in kept.entries] == [p.offset for p in positions[2:]]
    assert not (await broker.since(["a"], positions[0])).complete


async def test_age_limit_expires_and_reports_the_gap(make_broker: MakeBroker,
                                                     clock: Clock) -> None:
    _, broker = await make_broker(HistoryLimits(100, 10.0))
    start = broker.position()
    first = await broker.publish(["a"], event(1))
    clock.advance(6)
    second = await broker.publish(["a"], event(2))
    clock.advance(6)
    expired = await broker.since(["a"], start)
    assert not expired.complete
    assert [m.offset for m in expired.entries] == [second.offset]
    assert (await broker.since(["a"], first)).complete
    clock.advance(6)
    gone = await broker.since(["a"], first)
    assert not gone.complete
    assert gone.entries == []
    assert (await broker.since(["a"], second)).complete


async def test_per_channel_limits_by_name_and_prefix(make_broker: MakeBroker) -> None:
    _, broker = await make_broker(HistoryLimits(100, 300.0), {
        "user:": HistoryLimits(1, 300.0), "user:vip": HistoryLimits(5, 300.0),
        "silent": HistoryLimits(0, 300.0)})
    start = broker.position()
    for i in range(3):
        for channel in ("user:1", "user:vip", "other", "silent"):
            await broker.publish([channel], event(i))
    assert [len((await broker.since([c], start)).entries)
            for c in ("user:1", "user:vip", "other", "silent")] == [1, 3, 3, 0]
    assert not (await broker.since(["user:1"], start)).complete
    assert (await broker.since(["user:vip"], start)).complete
    silent = await broker.since(["silent"], start)
    assert not silent.complete
    assert (await broker.since(["silent"], broker.position())).complete


async def test_positions_from_elsewhere_are_not_trusted(make_broker: MakeBroker) -> None:
    _, broker = await make_broker()
    start = broker.position()
    await broker.publish(["a"], event(1))
    await broker.publish(["a"], event(2))
    other_epoch = await broker.since(["a"], StreamPosition("another", start.offset))
    assert not other_epoch.complete
    assert [m.args[0]["n"] for m in other_epoch.entries] == [1, 2]
    beyond = await broker.since(["a"], StreamPosition(start.epoch, start.offset + 99))
    assert not beyond.complete
    assert len(beyond.entries) == 2


async def test_an_idempotency_key_publishes_once(make_broker: MakeBroker) -> None:
    hub, broker = await make_broker()
    recorder = Recorder()
    hub.subscribe("a", recorder)
    first = await broker.publish(["a"], event(1), idempotency_key=IdempotencyKey("test", "k1"))
    again = await broker.publish(["a"], event(1), idempotency_key=IdempotencyKey("test", "k1"))
    other = await broker.publish(["a"], event(2), idempotency_key=IdempotencyKey("test", "k2"))
    assert again == first
    assert other.offset == first.offset + 1
    await recorder.wait_for(2)
    assert [m.args[0]["n"] for m in recorder.received] == [1, 2]
    assert [m.offset for m in (await broker.since(["a"], StreamPosition(
        first.epoch, first.offset - 1))).entries] == [first.offset, other.offset]


async def test_binary_arguments_survive(make_broker: MakeBroker) -> None:
    hub, broker = await make_broker()
    recorder = Recorder()
    hub.subscribe("a", recorder)
    await broker.publish(["a"], Outgoing("blob", (b"\x00\xffdata", {"k": "v"})))
    [message] = await recorder.wait_for(1)
    assert message.args == (b"\x00\xffdata", {"k": "v"})


async def test_a_subscriber_joining_right_after_since_misses_nothing_and_gets_nothing_twice(
        make_broker: MakeBroker) -> None:
    """The pattern of SSE resumes and Socket.IO recovery: read the history, then subscribe
    without awaiting, while events keep coming."""
    hub, broker = await make_broker(HistoryLimits(1000, 300.0))
    # Someone on this node already reads the channel, so events keep arriving live while
    # the history is read.
    watcher = Recorder()
    hub.subscribe("a", watcher)
    start = broker.position()
    for i in range(5):
        await broker.publish(["a"], event(i))
    for round_ in range(20):
        base = 5 + 12 * round_
        for i in range(base, base + 10):
            broker.publish_nowait(["a"], event(i))
        recovery = await broker.since(["a"], start)
        assert recovery.complete
        recorder = Recorder()
        hub.subscribe("a", recorder)
        await broker.publish(["a"], event(base + 10))
        seen = [m.args[0]["n"] for m in recovery.entries]
        live = await recorder.wait_for(base + 11 - len(seen))
        assert seen + [m.args[0]["n"] for m in live] == list(range(base + 11))
        hub.unsubscribe("a", recorder)
        await broker.publish(["a"], event(base + 11))  # not for the recorder any more
        assert len(recorder.received) == base + 11 - len(seen)
        await watcher.wait_for(base + 12)
