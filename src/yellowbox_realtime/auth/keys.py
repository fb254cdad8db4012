"""Fetching and caching a provider's published signing keys (a JWKS, Google's certificates).

A key set is fetched over HTTP, parsed once into public-key objects and kept for the
response's ``Cache-Control: max-age``. A token naming a kid we do not hold may mean the
provider rotated keys early, so it triggers one refetch -- but at most once per
``refetch_interval_s``, because anyone can send a token with an invented kid and must not be
able to make us hammer the key server. Concurrent refreshes share a single request.

A key server that is down or slow does not take authentication with it: once its keys have
expired, a key we hold still verifies while a refresh is under way (nobody waits behind a
slow server but the one who started it) and after a refresh failed, for up to
``max_stale_s`` past their expiry; and it is asked again no more than once per
``refetch_interval_s`` whatever arrives, so an outage does not turn into a fetch per token.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import httpx
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from jwt.algorithms import Algorithm

from ..errors import AuthBackendUnavailable, AuthenticationError, ConfigError
from .base import ParsedToken, require_algorithm, require_key_id

logger = logging.getLogger(__name__)

PublicKey = RSAPublicKey | EllipticCurvePublicKey

DEFAULT_MAX_AGE_S = 300.0
REFETCH_INTERVAL_S = 30.0
# How long past their expiry held keys still verify while the key server cannot be reached:
# long enough to ride out an outage, short enough that a key withdrawn meanwhile (a leaked
# one) is not trusted for days.
MAX_STALE_S = 6 * 3600.0


class KeySetError(ValueError):
    """A fetched key set cannot be understood; raised by the providers' parsers."""


@dataclass(frozen=True, slots=True)
class VerificationKey:
    """One parsed public key and the only JWS algorithm it may verify."""

    algorithm: str
    key: PublicKey


KeyParser = Callable[[bytes], Mapping[str, VerificationKey]]


class KeySet:
    """The keys published at ``url``, by kid, fetched lazily and refreshed as they expire.

    ``http`` is used if given (and left open); otherwise a client is created on the first
    fetch and closed by :meth:`aclose`. ``clock`` returns UNIX seconds; tests move it.
    """

    def __init__(
        self,
        url: str,
        parse: KeyParser,
        *,
        http: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
        default_max_age_s: float = DEFAULT_MAX_AGE_S,
        refetch_interval_s: float = REFETCH_INTERVAL_S,
        timeout_s: float = 10.0,
        max_bytes: int = 1024 * 1024,
        max_stale_s: float = MAX_STALE_S,
    ) -> None:
        self._url = url
        self._parse = parse
        self._http = http
        self._owns_http = http is None
        self._clock = clock
        self._default_max_age_s = default_max_age_s
        self._refetch_interval_s = refetch_interval_s
        self._timeout_s = timeout_s
        self._max_bytes = max_bytes
        self._max_stale_s = max_stale_s
        self._keys: Mapping[str, VerificationKey] | None = None
        self._expires_at = float("-inf")
        self._last_fetch_at = float("-inf")
        self._inflight: asyncio.Task[Mapping[str, VerificationKey]] | None = None
        self._closed = False

    async def get(self, kid: str) -> VerificationKey:
        """The key for ``kid``; AuthenticationError if unknown, AuthBackendUnavailable if the
        set cannot be fetched."""
        now = self._clock()
        held = self._keys.get(kid) if self._keys is not None else None
        if held is not None and now < self._expires_at:
            return held
        # Expired but held: usable while the key server cannot tell us otherwise.
        stale = held if held is not None and now < self._expires_at + self._max_stale_s \
            else None
        if self._inflight is None and now - self._last_fetch_at < self._refetch_interval_s \
                and not self._closed:
            # Asked moments ago (and, if these keys are expired, it failed): not again yet.
            if stale is not None:
                return stale
            if self._keys is None:
                raise AuthBackendUnavailable(
                    "could not fetch signing keys: key server failed moments ago")
            raise AuthenticationError("token key id is unknown")
        if stale is not None and self._inflight is not None:
            return stale
        try:
            found = (await self._refresh()).get(kid)
        except AuthBackendUnavailable:
            if stale is not None:
                return stale
            raise
        if found is None:
            raise AuthenticationError("token key id is unknown")
        return found

    async def aclose(self) -> None:
        self._closed = True
        if self._inflight is not None:
            self._inflight.cancel()
        if self._owns_http and self._http is not None:
            await self._http.aclose()
            self._http = None

    async def _refresh(self) -> Mapping[str, VerificationKey]:
        task = self._inflight
        if task is None:
            task = asyncio.create_task(self._fetch(), name=f"fetch signing keys {self._url}")
            task.add_done_callback(self._forget_fetch)
            self._inflight = task
        # wait() rather than awaiting the task: a caller that gives up (is cancelled) must
        # not cancel the fetch the other callers are waiting for.
        await asyncio.wait((task,))
        if task.cancelled():
            raise AuthBackendUnavailable("could not fetch signing keys: authenticator is closed")
        error = task.exception()
        if isinstance(error, AuthBackendUnavailable):
            # A fresh exception per waiter, so concurrent callers do not share a traceback.
            raise AuthBackendUnavailable(error.message) from error
        if error is not None:
            raise error
        return task.result()

    def _forget_fetch(self, task: asyncio.Task[Mapping[str, VerificationKey]]) -> None:
        if self._inflight is task:
            self._inflight = None
        # Mark the outcome as retrieved even if every waiter was cancelled, so asyncio does
        # not log "exception was never retrieved" for a failure already reported.
        if not task.cancelled():
            task.exception()

    async def _fetch(self) -> Mapping[str, VerificationKey]:
        if self._closed:
            raise AuthBackendUnavailable("could not fetch signing keys: authenticator is closed")
        started = self._clock()
        self._last_fetch_at = started
        try:
            async with asyncio.timeout(self._timeout_s):
                body, cache_control, age = await self._download()
        except (TimeoutError, httpx.TimeoutException) as exc:
            raise self._unavailable("key server timed out", exc) from exc
        except httpx.HTTPError as exc:
            raise self._unavailable("key server unreachable", exc) from exc
        try:
            keys = self._parse(body)
        except KeySetError as exc:
            raise self._unavailable("key set is malformed", exc) from exc
        if not keys:
            raise self._unavailable("key set has no usable keys", None)
        self._keys = keys
        self._expires_at = started + freshness_lifetime(cache_control, age,
                                                        self._default_max_age_s)
        return keys

    async def _download(self) -> tuple[bytes, str | None, str | None]:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=self._timeout_s)
        async with self._http.stream("GET", self._url,
                                     headers={"Accept": "application/json"}) as response:
            if not response.is_success:
                raise self._unavailable(
                    f"key server answered HTTP {response.status_code}", None)
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > self._max_bytes:
                    raise self._unavailable("key set is too large", None)
            return (bytes(body), response.headers.get("cache-control"),
                    response.headers.get("age"))

    def _unavailable(self, reason: str, cause: BaseException | None) -> AuthBackendUnavailable:
        logger.warning("could not fetch signing keys from %s: %s (%s)", self._url, reason,
                       cause if cause is not None else "no detail")
        return AuthBackendUnavailable(f"could not fetch signing keys: {reason}")


def check_key_url(url: str, setting: str) -> None:
    """Refuse at start-up a key URL that could never be fetched."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise ConfigError(f"{setting}: not a valid URL") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ConfigError(f"{setting}: expected an http or https URL")


def freshness_lifetime(cache_control: str | None, age: str | None, default_s: float) -> float:
    """Seconds a response stays fresh: ``max-age`` less any ``Age`` a cache already spent."""
    max_age: int | None = None
    for directive in (cache_control or "").split(","):
        name, _, value = directive.strip().partition("=")
        if name.strip().lower() == "max-age":
            max_age = _delta_seconds(value.strip().strip('"'))
            break
    if max_age is None:
        return default_s
    return float(max(0, max_age - (_delta_seconds((age or "").strip()) or 0)))


def _delta_seconds(text: str) -> int | None:
    # isdigit() alone accepts non-ASCII digits such as "²", which int() then rejects.
    return int(text) if text.isascii() and text.isdigit() else None


async def key_for_token(
    parsed: ParsedToken, keys: KeySet, allowed: Mapping[str, Algorithm]
) -> tuple[Algorithm, PublicKey]:
    """The verifier and key for a token signed with one of a key set's keys."""
    algorithm = require_algorithm(parsed, allowed)
    entry = await keys.get(require_key_id(parsed))
    # A key is published for one algorithm; letting the header pick another (an EC kid with
    # an RS256 header, say) only invites confusion attacks.
    if entry.algorithm != parsed.header["alg"]:
        raise AuthenticationError("token algorithm does not match its key")
    return algorithm, entry.key
