"""``GET /metrics``: the gateway's metrics in the Prometheus text format.

Who may scrape (``[metrics]``): with a ``token`` configured, a request carrying it as
``Authorization: Bearer <token>``, from any address; without one, clients on the loopback
interface only (a Prometheus agent or sidecar on the same host). A reverse proxy on the
same host makes every request look local, so deployments behind one set a token.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Awaitable, Callable, Iterable

from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector, CollectorRegistry
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ..config import MetricsConfig
from ..errors import AuthenticationError, ForbiddenError

# Computed when scraped (some of it awaits the outbox's file), then written out by the
# Prometheus client library in the text format every Prometheus reads (0.0.4).
Collect = Callable[[], Awaitable[list[Metric]]]

PATH = "/metrics"
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4


class MetricsApi:
    def __init__(self, config: MetricsConfig, collect: Collect) -> None:
        self.config = config
        self.collect = collect
        # Compared as digests, so the comparison's time says nothing about the token.
        self._digest = hashlib.sha256(config.token.encode()).digest() if config.token else None

    def routes(self) -> list[BaseRoute]:
        if not self.config.enabled:
            return []
        return [Route(PATH, self.scrape, methods=["GET"])]

    async def scrape(self, request: Request) -> Response:
        self.authorize(request)
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Scraped(await self.collect()))
        return Response(generate_latest(registry), media_type=CONTENT_TYPE,
                        headers={"Cache-Control": "no-store"})

    def authorize(self, request: Request) -> None:
        if self._digest is None:
            host = request.client.host if request.client else ""
            if not _is_loopback(host):
                raise ForbiddenError("metrics are served to loopback clients only; set "
                                     "metrics.token to scrape from elsewhere")
            return
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        given = hashlib.sha256(token.strip().encode()).digest()
        if scheme.lower() != "bearer" or not hmac.compare_digest(given, self._digest):
            raise AuthenticationError("metrics need Authorization: Bearer <metrics.token>")


class _Scraped(Collector):
    """The families of one scrape, as the library's registry asks for them."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterable[Metric]:
        return self.families


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
