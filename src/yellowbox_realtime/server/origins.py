"""Which browser origins may open connections: the CSWSH and CORS guard.

WebSocket upgrades, polling, SSE streams and SSE tickets that carry an ``Origin`` header are
allowed when the origin is in ``server.allowed_origins`` (``"*"``: any) or is the gateway's
own, whatever the list says: a page the gateway serves (the dashboard) works on any port.

The gateway's own origins are its scheme (``https`` with TLS) with each address it listens
on: a loopback address stands for ``localhost``, ``127.0.0.1`` and ``[::1]`` alike, and a
host name it was told to listen on counts too. A wildcard address (``0.0.0.0``, ``::``)
names no host, so there "own" means what same-origin means to a browser: the ``Origin`` is
the scheme and the request's ``Host``. Specific addresses do not use ``Host``, so a page on
another name that resolves to the gateway (DNS rebinding) stays foreign there.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class OwnOrigins:
    scheme: str = "http"
    origins: frozenset[str] = frozenset()
    # Listening on a wildcard address: an Origin equal to scheme://Host is our own.
    same_host: bool = False

    @classmethod
    def listening(cls, names: Iterable[str], addresses: Iterable[tuple[str, int]], *,
                  tls: bool) -> OwnOrigins:
        """The origins of a front that was asked for ``names`` and bound ``addresses``."""
        scheme = "https" if tls else "http"
        names = [n for n in names if n and not _is_ip(n)]
        origins: set[str] = set()
        same_host = False
        for host, port in addresses:
            address = ipaddress.ip_address(host.partition("%")[0])
            if address.is_unspecified:
                same_host = True
                hosts: Sequence[str] = ()
            elif address.is_loopback:
                hosts = LOOPBACK_NAMES
            else:
                hosts = (f"[{address}]" if address.version == 6 else str(address),)
            origins.update(_origin(scheme, h, port) for h in (*hosts, *names))
        return cls(scheme, frozenset(o.lower() for o in origins), same_host)

    def __or__(self, other: OwnOrigins) -> OwnOrigins:
        return OwnOrigins(other.scheme, self.origins | other.origins,
                          self.same_host or other.same_host)

    def includes(self, origin: str, host: str | None) -> bool:
        origin = origin.lower()
        if origin in self.origins:
            return True
        return self.same_host and host is not None and \
            origin == f"{self.scheme}://{host.lower()}"


def origin_allowed(allowed: Sequence[str], own: OwnOrigins,
                   headers: Mapping[str, str]) -> bool:
    """Whether a request may go on. Requests without Origin come from non-browsers."""
    origin = headers.get("origin")
    if origin is None:
        return True
    return "*" in allowed or origin in allowed or own.includes(origin, headers.get("host"))


def _origin(scheme: str, host: str, port: int) -> str:
    # Browsers leave the scheme's default port out of Origin.
    return f"{scheme}://{host}" if DEFAULT_PORTS.get(scheme) == port \
        else f"{scheme}://{host}:{port}"


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name.strip("[]").partition("%")[0])
    except ValueError:
        return False
    return True
