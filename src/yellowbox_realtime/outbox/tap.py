"""Where published events meet the outbox: a broker that also hands events to it.

Every event published on this node goes through the broker, from any source (Socket.IO
emits, the HTTP API, webhooks), with all of its channels; so routes can match any channel,
prefixes (``user:``) and events on no channel in particular, which a hub subscription to
named channels could not. In a cluster only the publishing node forwards an event, not
every node that receives it.

- :meth:`publish_nowait` publishes, then offers the event (queued, committed in the next
  batch): emitters must not wait.
- :meth:`publish` publishes, then awaits :meth:`Outbox.accept`, so whoever acknowledges a
  publish (the HTTP API's 202) does so only after the deliveries are committed. If the
  outbox refuses (503), the event has reached Socket.IO clients already; a retry with the
  same ``Idempotency-Key`` is not delivered to them again (the broker remembers the key)
  and is accepted by the outbox under the same event id. A retry of a publish the outbox
  did accept is not accepted again (this process remembers the idempotency keys of what it
  accepted, in a table like the broker's), so a delivery already made is not repeated.

Events no route could take (by name and channel) are passed through at the cost of that
one check; with the outbox off the gateway has no tap at all.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence

from ..core.broker import Broker, BrokerLayer
from ..core.hub import Outgoing, Subscriber, json_data
from ..core.idempotency import IdempotencyKey, IdempotencyTable
from ..messages import StreamPosition
from .event import OutboxEvent
from .service import Outbox


class OutboxBroker(BrokerLayer):
    """A :class:`~yellowbox_realtime.core.broker.Broker` around another one."""

    def __init__(self, inner: Broker, outbox: Outbox, *,
                 accepted: IdempotencyTable[StreamPosition] | None = None) -> None:
        super().__init__(inner)
        self.outbox = outbox
        # Where the publishes with each key were accepted.
        self.accepted = accepted if accepted is not None else IdempotencyTable()

    def publish_nowait(self, channels: Sequence[str], message: Outgoing,
                       exclude: frozenset[Subscriber] = frozenset()) -> None:
        self.inner.publish_nowait(channels, message, exclude)
        if self.outbox.rules.may_take(message.event, channels):
            self.outbox.offer(_event(channels, message, None))

    async def publish(self, channels: Sequence[str], message: Outgoing, *,
                      idempotency_key: IdempotencyKey | None = None) -> StreamPosition:
        position = await self.inner.publish(channels, message,
                                            idempotency_key=idempotency_key)
        if not self.outbox.rules.may_take(message.event, channels):
            return position
        if idempotency_key is not None and self.accepted.get(idempotency_key) == position:
            return position  # a retried publish, accepted the first time
        await self.outbox.accept(_event(channels, message, position))
        if idempotency_key is not None:
            self.accepted.put(idempotency_key, position)
        return position


def _event(channels: Sequence[str], message: Outgoing,
           position: StreamPosition | None) -> OutboxEvent:
    if position is not None:
        event_id = f"{position.epoch}:{position.offset}"
    elif message.offset:
        event_id = message.id
    else:  # a broker that places events later: any id unique to this event will do
        event_id = uuid.uuid4().hex
    return OutboxEvent(event_id, message.event, tuple(channels), json_data(message.args),
                       time.time())
