"""Publishing rider locations whose latitude carries a sequence number."""

from __future__ import annotations

import time

from . import wire
from .client import SioClient, latitude_for
from .measure import Latencies


class Publisher:
    """Sends ``publish_location`` from rider clients and records each message's send time."""

    def __init__(self, latencies: Latencies) -> None:
        self.latencies = latencies
        self.next_seq = 0

    def frame(self) -> bytes:
        seq = self.next_seq
        self.next_seq += 1
        self.latencies.sent[seq] = time.monotonic()
        return wire.sio_event("publish_location", {
            "latitude": latitude_for(seq), "longitude": 55.2708, "speed": 8.5,
            "heading": 90.0})

    def publish(self, rider: SioClient, count: int = 1) -> None:
        rider.send_raw(b"".join(self.frame() for _ in range(count)))
