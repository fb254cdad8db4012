"""Per-client limits (``[limits]``): connections per address and per user, new connections
per address per second, Socket.IO events per connection per second, TCP connections per
address in their HTTP phase, and the bytes an address has the gateway hold in messages and
bodies still arriving.

Connections are Engine.IO sessions and SSE streams, counted together: an address or a user
holds one count per open session or stream, taken when it opens and given back however it
ends. Everything here is synchronous and takes the time as an argument; the transports call
it at the moment a connection is admitted, so nothing can slip in between a check and the
count it guards.

The client's address is the TCP peer's, unless the peer is one of ``trusted_proxies``: then
it is the last address of ``X-Forwarded-For`` that is not a trusted proxy (the one the
nearest untrusted hop connected from; addresses further left are the client's own say-so).
"""

from __future__ import annotations

import ipaddress
import math
from collections import OrderedDict
from collections.abc import Mapping

from ..config import LimitsConfig
from ..core.counters import Counters
from ..errors import PayloadTooLarge, RateLimited, TooManyConnections, TooManyRequests

__all__ = ["ClientLimits", "EventBucket", "EventVerdict", "Rates"]

# Handshake buckets kept before the full ones (idle addresses) are dropped.
_MAX_BUCKETS = 10_000


class _Bucket:
    __slots__ = ("tokens", "updated")

    def __init__(self, tokens: float, now: float) -> None:
        self.tokens = tokens
        self.updated = now


class Rates:
    """Token buckets by key (an address, a user): ``rate`` a second, ``burst`` at once, as
    nginx's ``limit_req``. The table is bounded: past ``max_keys`` the bucket used longest
    ago goes (its key starts afresh if it comes back), with the refilled ones right behind
    it; never the whole table at once. A rate of 0 admits everything."""

    def __init__(self, rate: float, burst: int, max_keys: int = _MAX_BUCKETS) -> None:
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        # Least recently used first.
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def take(self, key: str, now: float) -> int:
        """One request for ``key``: 0 if admitted, else the whole seconds until one fits."""
        rate, burst = self.rate, self.burst
        if not rate:
            return 0
        buckets = self._buckets
        bucket = buckets.get(key)
        if bucket is None:
            if len(buckets) >= self.max_keys:
                self._make_room(now)
            bucket = buckets[key] = _Bucket(float(burst), now)
        else:
            buckets.move_to_end(key)
        bucket.tokens = min(burst, bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now
        if bucket.tokens < 1.0:
            return max(1, math.ceil((1.0 - bucket.tokens) / rate))
        bucket.tokens -= 1.0
        return 0

    def _make_room(self, now: float) -> None:
        """Drop the bucket used longest ago, and every one after it that has refilled (a key
        as good as never seen), so that a table filled once empties as its keys go idle."""
        buckets, rate, burst = self._buckets, self.rate, self.burst
        buckets.popitem(last=False)
        while buckets:
            oldest = next(iter(buckets.values()))
            if oldest.tokens + (now - oldest.updated) * rate < burst:
                break
            buckets.popitem(last=False)

    def __len__(self) -> int:
        return len(self._buckets)


class EventBucket:
    """One connection's event budget and, beside it, how much flooding it has left."""

    __slots__ = ("strikes", "tokens", "updated")

    def __init__(self, tokens: float, strikes: float, now: float) -> None:
        self.tokens = tokens
        self.strikes = strikes
        self.updated = now


class EventVerdict:
    ACCEPT = 0
    REFUSE = 1
    DISCONNECT = 2


class ClientLimits:
    """The counts and buckets of one gateway; ``counters.limited`` counts each refusal."""

    def __init__(self, config: LimitsConfig, counters: Counters) -> None:
        self.config = config
        self.counters = counters
        self.by_ip: dict[str, int] = {}
        self.by_user: dict[str, int] = {}
        # TCP connections in their HTTP phase, and bytes held in messages still arriving;
        # an address is in each only while it has some.
        self.http_by_ip: dict[str, int] = {}
        self.held_by_ip: dict[str, int] = {}
        self._handshakes = Rates(config.handshakes_per_ip_per_s, config.handshake_burst)
        self._trusted = frozenset(ipaddress.ip_address(a) for a in config.trusted_proxies)
        # As the transports spell peers, for a check on every connection without parsing.
        self._trusted_peers = frozenset(str(a) for a in self._trusted)

    # -- who is asking ----------------------------------------------------------------

    def address(self, peer: str, headers: Mapping[str, str]) -> str:
        """The client's address (see the module's docstring)."""
        if not self._trusted or not _in(peer, self._trusted):
            return peer
        forwarded = headers.get("x-forwarded-for", "")
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        for hop in reversed(hops):
            if not _valid(hop):
                break  # garbage from here on left cannot be trusted either
            if not _in(hop, self._trusted):
                return hop
        return peer

    # -- new connections --------------------------------------------------------------

    def admit(self, ip: str, now: float) -> None:
        """A new connection from ``ip`` may start: raises TooManyRequests (rate) or
        TooManyConnections (count), each with the seconds to wait."""
        self.check_ip(ip)
        self._take_handshake(ip, now)

    def check_ip(self, ip: str) -> None:
        limit = self.config.max_connections_per_ip
        if limit and self.by_ip.get(ip, 0) >= limit:
            self._refused("connections_per_ip")
            raise TooManyConnections(
                f"too many connections from {ip}: at most {limit} at a time", 5)

    def _take_handshake(self, ip: str, now: float) -> None:
        wait = self._handshakes.take(ip, now)
        if wait:
            self._refused("handshake_rate")
            raise TooManyRequests(
                f"too many new connections from {ip}: at most "
                f"{self.config.handshakes_per_ip_per_s:g} per second "
                f"(bursts of {self.config.handshake_burst})", wait)

    def open_ip(self, ip: str) -> None:
        """Count a connection from ``ip`` (after :meth:`admit`, with nothing in between)."""
        self.by_ip[ip] = self.by_ip.get(ip, 0) + 1

    def close_ip(self, ip: str) -> None:
        _decrement(self.by_ip, ip, 1)

    def open_user(self, uid: str) -> None:
        """Count a connection of ``uid``, or raise TooManyConnections."""
        limit = self.config.max_connections_per_user
        held = self.by_user.get(uid, 0)
        if limit and held >= limit:
            self._refused("connections_per_user")
            raise TooManyConnections(
                f"too many connections for user {uid}: at most {limit} at a time", 5)
        self.by_user[uid] = held + 1

    def close_user(self, uid: str) -> None:
        _decrement(self.by_user, uid, 1)

    # -- TCP connections and bytes held -----------------------------------------------

    def trusted_peer(self, peer: str) -> bool:
        """A proxy of ``trusted_proxies``: it speaks for many clients, so the limits by TCP
        peer below do not apply to it (it enforces its own)."""
        return peer in self._trusted_peers

    def open_http(self, peer: str) -> None:
        """Count a TCP connection from ``peer``, or raise TooManyConnections."""
        limit = self.config.max_http_connections_per_ip
        held = self.http_by_ip.get(peer, 0)
        if limit and held >= limit:
            self._refused("http_connections_per_ip")
            raise TooManyConnections(
                f"too many HTTP connections from {peer}: at most {limit} at a time", 5)
        self.http_by_ip[peer] = held + 1

    def close_http(self, peer: str) -> None:
        _decrement(self.http_by_ip, peer, 1)

    def hold(self, ip: str, size: int) -> bool:
        """``size`` more bytes held for ``ip`` in messages and bodies still arriving (always
        counted; give them back with :meth:`release`); False once that passes
        ``max_held_bytes_per_ip``: the caller ends the connection that asked."""
        held = self.held_by_ip.get(ip, 0) + size
        if held <= 0:
            self.held_by_ip.pop(ip, None)
            return True
        self.held_by_ip[ip] = held
        limit = self.config.max_held_bytes_per_ip
        if limit and held > limit:
            self._refused("held_bytes_per_ip")
            return False
        return True

    def release(self, ip: str, size: int) -> None:
        _decrement(self.held_by_ip, ip, size)

    def held_refusal(self, ip: str) -> PayloadTooLarge:
        return PayloadTooLarge(
            f"too many bytes held for {ip}: at most {self.config.max_held_bytes_per_ip} in "
            f"messages still arriving")

    # -- events on a connection -------------------------------------------------------

    def take_event(self, bucket: EventBucket | None, now: float) -> tuple[int, EventBucket | None]:
        """One inbound event on a connection: its verdict, and the bucket to keep (created
        on the first event, so idle connections carry none)."""
        rate, burst = self.config.events_per_s, self.config.events_burst
        if not rate:
            return EventVerdict.ACCEPT, bucket
        flood = self.config.flood_refusals
        if bucket is None:
            bucket = EventBucket(float(burst), float(flood), now)
        elapsed = now - bucket.updated
        bucket.updated = now
        bucket.tokens = min(burst, bucket.tokens + elapsed * rate)
        bucket.strikes = min(flood, bucket.strikes + elapsed * rate)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return EventVerdict.ACCEPT, bucket
        self._refused("event_rate")
        if flood:
            bucket.strikes -= 1.0
            if bucket.strikes < 0:
                self._refused("event_flood")
                return EventVerdict.DISCONNECT, bucket
        return EventVerdict.REFUSE, bucket

    def event_refusal(self) -> RateLimited:
        return RateLimited(f"too many events: at most {self.config.events_per_s:g} per "
                           f"second per connection (bursts of {self.config.events_burst})")

    def flood_error(self) -> RateLimited:
        return RateLimited(f"disconnected: kept sending events at over twice the limit of "
                           f"{self.config.events_per_s:g} per second")

    def _refused(self, limit: str) -> None:
        self.counters.limit_refused(limit)


def _decrement(counts: dict[str, int], key: str, size: int) -> None:
    left = counts.get(key, 0) - size
    if left > 0:
        counts[key] = left
    else:
        counts.pop(key, None)


def _valid(address: str) -> bool:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return False
    return True


def _in(address: str, trusted: frozenset[ipaddress.IPv4Address | ipaddress.IPv6Address]
        ) -> bool:
    try:
        return ipaddress.ip_address(address) in trusted
    except ValueError:
        return False
