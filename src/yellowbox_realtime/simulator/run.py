"""Runs the simulated riders as real Socket.IO clients of a gateway.

One :class:`~yellowbox_realtime.client.Client` per rider, each with its own development
token, publishing its position through ``publish_location`` at a fixed rate and waiting
for the ack, so the counts show what the gateway accepted and refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Sequence
from typing import Any, TextIO

import httpx

from ..auth.dev import mint_dev_token
from ..client import Backoff, Client, TokenGetter
from ..errors import ConnectRefused, Disconnected, GatewayError, RequestRefused
from .geofences import demo_fences, install_fences
from .progress import Counters, Progress
from .riders import Rider

log = logging.getLogger(__name__)

SOS_EVENT = "rider_sos"


class Simulation:
    def __init__(self, url: str, secret: str, riders: Sequence[Rider], *, rate: float = 1.0,
                 token_ttl_s: int = 3600, role_claim: str = "role",
                 progress: TextIO | None = None, backoff: Backoff | None = None,
                 geofences: bool = True) -> None:
        if not rate > 0:
            raise ValueError("rate must be positive")
        self.url = url
        self.secret = secret
        self.riders = tuple(riders)
        self.rate = rate
        self.token_ttl_s = token_ttl_s
        self.role_claim = role_claim
        self.backoff = backoff or Backoff()
        self.counters = Counters()
        self.geofences = geofences
        self.clients: dict[str, Client] = {}
        self._progress = progress
        # Messages already logged: twenty riders refused for one reason is one line.
        self._said: set[str] = set()
        # Whether any rider ever connected, and if none has, the latest reason.
        self.reached = False
        self.connect_failure = ""

    async def run(self, stop: asyncio.Event) -> Counters:
        """Ride until ``stop`` is set, then close every client; returns the final counts."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        tasks = [loop.create_task(self._ride(rider, started, stop), name=f"sim {rider.uid}")
                 for rider in self.riders]
        if self.geofences:
            tasks.append(loop.create_task(self._install_fences(stop), name="sim geofences"))
        display = (Progress(self._progress, self.counters, len(self.riders))
                   if self._progress is not None else None)
        drawing = loop.create_task(display.run(started)) if display is not None else None
        try:
            await stop.wait()
        finally:
            # Cancelling, not waiting: a rider may be waiting up to ack_timeout for an ack.
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if drawing is not None:
                drawing.cancel()
                await asyncio.gather(drawing, return_exceptions=True)
            if display is not None:
                display.finish(loop.time() - started)
        return self.counters

    async def _install_fences(self, stop: asyncio.Event) -> None:
        """Put the demo's geofences on the gateway, retrying until it answers."""
        token = mint_dev_token(self.secret, "simulator", "admin", ttl_s=self.token_ttl_s,
                               role_claim=self.role_claim)
        attempt = 0
        while not stop.is_set():
            try:
                count = await install_fences(self.url, token, demo_fences())
            except httpx.HTTPStatusError as exc:
                self._say_once(logging.WARNING, "geofences",
                               f"the gateway refused the demo geofences: "
                               f"{exc.response.status_code} {exc.response.text[:200]}")
                return
            except httpx.HTTPError:
                if await _wait(stop, self.backoff.delay(attempt)):
                    return
                attempt += 1
                continue
            self.counters.geofences = count
            return

    # -- one rider --------------------------------------------------------------------

    def _token_getter(self, uid: str) -> TokenGetter:
        async def get(_force_refresh: bool) -> str:
            # Minted locally every time, so a forced refresh is always a fresh token.
            return mint_dev_token(self.secret, uid, "rider", ttl_s=self.token_ttl_s,
                                  role_claim=self.role_claim)
        return get

    async def _ride(self, rider: Rider, started: float, stop: asyncio.Event) -> None:
        client = Client(self.url, self._token_getter(rider.uid), backoff=self.backoff)
        self.clients[rider.uid] = client
        connects = 0

        def connected() -> None:
            nonlocal connects
            connects += 1
            self.counters.connected += 1
            if connects > 1:
                self.counters.reconnects += 1

        def disconnected(_reason: str) -> None:
            self.counters.connected -= 1

        client.on("connect", connected)
        client.on("disconnect", disconnected)
        try:
            if await self._connect(rider, client, stop):
                await self._publish(rider, client, started, stop)
        finally:
            await client.close()

    async def _connect(self, rider: Rider, client: Client, stop: asyncio.Event) -> bool:
        """Keep trying until connected (the gateway may start after the simulator)."""
        attempt = 0
        while not stop.is_set():
            try:
                await client.connect()
                self.reached = True
                return True
            except ConnectRefused as exc:
                self.connect_failure = f"the gateway refused the riders: {exc.message}"
                self._say_once(logging.ERROR, exc.message,
                               f"the gateway refused {rider.uid}'s connection: {exc.message} "
                               "(is the token secret the gateway's?)")
            except Disconnected as exc:
                self.connect_failure = f"cannot reach the gateway: {exc.message}"
                self._say_once(logging.WARNING, exc.message,
                               f"cannot reach the gateway: {exc.message}; retrying")
            if await _wait(stop, self.backoff.delay(attempt)):
                return False
            attempt += 1
        return False

    async def _publish(self, rider: Rider, client: Client, started: float,
                       stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        period = 1.0 / self.rate
        # Spread the riders over the period instead of publishing all at once.
        offset = period * (rider.index % len(self.riders)) / len(self.riders)
        sos_pending = rider.sos_at is not None
        tick = 0
        while True:
            if await _wait(stop, started + offset + tick * period - loop.time()):
                return
            elapsed = loop.time() - started
            if client.connected:
                if sos_pending and rider.sos_at is not None and elapsed >= rider.sos_at:
                    sos_pending = not await self._send_sos(rider, client, elapsed)
                if not rider.is_silent(elapsed):
                    await self._send_fix(rider, client, elapsed)
            # A late tick is skipped, not made up: the rate stays under the server's limit.
            tick = max(tick + 1, math.floor((loop.time() - started - offset) / period) + 1)

    async def _send_fix(self, rider: Rider, client: Client, elapsed: float) -> None:
        fix = rider.fix(elapsed)
        self.counters.published += 1
        try:
            await client.publish_location(
                round(fix.latitude, 6), round(fix.longitude, 6), accuracy=round(fix.accuracy, 1),
                speed=round(fix.speed, 2), heading=round(fix.heading, 1),
                timestamp=int(time.time() * 1000))
        except RequestRefused as exc:
            self.counters.refused += 1
            self._say_once(logging.WARNING, exc.message,
                           f"the gateway refused a location from {rider.uid}: {exc.message} "
                           "(said once per reason)")
        except GatewayError:
            pass  # lost with the connection or unanswered: neither acked nor refused
        else:
            self.counters.acked += 1

    async def _send_sos(self, rider: Rider, client: Client, elapsed: float) -> bool:
        """True once the gateway answered, whatever it said."""
        fix = rider.fix(elapsed)
        payload: dict[str, Any] = {"latitude": round(fix.latitude, 6),
                                   "longitude": round(fix.longitude, 6),
                                   "timestamp": int(time.time() * 1000)}
        try:
            answer = await client.call(SOS_EVENT, payload)
        except GatewayError:
            return False  # not sent or not answered: try again on the next tick
        self.counters.sos_sent += 1
        if isinstance(answer, dict) and answer.get("ok") is True:
            log.info("%s sent an SOS; the gateway accepted it", rider.uid)
        else:
            error = answer.get("error") if isinstance(answer, dict) else answer
            # Expected until the gateway handles SOS: say so, once, and ride on.
            self._say_once(logging.WARNING, SOS_EVENT,
                           f"the gateway refused {rider.uid}'s {SOS_EVENT}: {error}")
        return True

    def _say_once(self, level: int, key: str, message: str) -> None:
        if key not in self._said:
            self._said.add(key)
            log.log(level, "%s", message)


async def _wait(stop: asyncio.Event, delay: float) -> bool:
    """Sleep ``delay`` seconds unless stopped first; True when stopped."""
    if stop.is_set():
        return True
    if delay > 0:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
    return stop.is_set()
