"""API keys: minting and hashing, who gets in, what each key may do, and how often."""

from __future__ import annotations

import httpx
import pytest

from tests.apiclients import KEYS, api_section, bearer
from tests.conftest import MakeGateway, gateway_config
from yellowbox_realtime.api.errors import TooManyRequests
from yellowbox_realtime.api.keys import KEY_PREFIX, KeyRing, hash_key, mint_key
from yellowbox_realtime.config import ApiConfig, Config
from yellowbox_realtime.errors import (
    AuthenticationError,
    ConfigError,
    ForbiddenError,
    RateLimited,
)
from yellowbox_realtime.messages import Credentials


def test_minted_keys_are_random_and_their_hash_is_sha256_hex() -> None:
    first, second = mint_key(), mint_key()
    assert first != second
    assert first.startswith(KEY_PREFIX)
    assert len(first) > 40
    assert hash_key("abc") == \
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_a_key_is_found_by_its_hash_in_either_header() -> None:
    ring = KeyRing(ApiConfig(keys={"a": hash_key("key-a"), "b": hash_key("key-b")},
                             scopes={"a": ("publish",), "b": ("history",)}))
    assert ring.authenticate({"authorization": "Bearer key-b"}).name == "b"
    assert ring.authenticate({"authorization": "bearer  key-a "}).name == "a"
    assert ring.authenticate({"x-api-key": "key-a"}).name == "a"
    for headers in ({}, {"authorization": "Basic a2V5LWE="}, {"authorization": "Bearer "},
                    {"x-api-key": ""}, {"x-api-key": "key-c"}, {"x-api-key": "k" * 300}):
        with pytest.raises(AuthenticationError):
            ring.authenticate(headers)


def test_scopes_and_channel_prefixes_limit_a_key() -> None:
    ring = KeyRing(ApiConfig(keys={"a": hash_key("k")}, scopes={"a": ("publish",)},
                             channels={"a": ("user:", "alerts")}))
    key = ring.authenticate({"x-api-key": "k"})
    key.check("publish", "user:42")
    key.check("publish", "alerts")
    for scope, channel in [("history", "alerts"), ("publish", "alerts:x"),
                           ("publish", "role:admin"), ("publish", "users:1")]:
        with pytest.raises(ForbiddenError):
            key.check(scope, channel)


def test_each_key_has_its_own_rate() -> None:
    ring = KeyRing(ApiConfig(keys={"a": hash_key("ka"), "b": hash_key("kb")},
                             scopes={"a": ("publish",), "b": ("publish",)},
                             rate_per_s=1.0, burst=2))
    a, b = ring.authenticate({"x-api-key": "ka"}), ring.authenticate({"x-api-key": "kb"})
    ring.take(a, 0.0)
    ring.take(a, 0.0)
    with pytest.raises(RateLimited) as refused:
        ring.take(a, 0.5)
    assert isinstance(refused.value, TooManyRequests)
    assert refused.value.retry_after_s == 1
    ring.take(b, 0.5)
    ring.take(a, 1.0)  # one token back after a second


@pytest.mark.parametrize(("section", "key"), [
    ({"keys": {"a": "ab" * 32}}, "api.scopes.a"),
    ({"keys": {"a": "AB" * 32}, "scopes": {"a": ["publish"]}}, "api.keys.a"),
    ({"keys": {"a": "ybrt_plaintext"}, "scopes": {"a": ["publish"]}}, "api.keys.a"),
    ({"keys": {"a b": "ab" * 32}, "scopes": {"a b": ["publish"]}}, "api.keys.a b"),
    ({"keys": {"a": "ab" * 32}, "scopes": {"a": ["admin"]}}, "api.scopes.a"),
    ({"scopes": {"a": ["publish"]}}, "api.scopes.a"),
    ({"keys": {"a": "ab" * 32}, "scopes": {"a": ["publish"]}, "channels": {"b": ["x"]}},
     "api.channels.b"),
    ({"rate_per_s": 0}, "api.rate_per_s"),
])
def test_invalid_api_configuration_names_the_key(section: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        Config.from_mapping({"api": section})


# -- over HTTP ----------------------------------------------------------------------------

async def test_without_configured_keys_the_api_says_how_to_configure_one(
        make_gateway: MakeGateway) -> None:
    gateway = await make_gateway(gateway_config())
    async with httpx.AsyncClient(base_url=gateway.url) as http:
        response = await http.post("/api/v1/channels/alerts/events",
                                   json={"event": "a", "data": 1}, headers=bearer())
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    error = response.json()["error"]
    assert error["code"] == "authentication_failed"
    assert "yellowbox-realtime api-key" in error["message"]
    assert "[api]" in error["message"]


@pytest.mark.parametrize("headers", [
    {}, {"Authorization": "Bearer ybrt_wrong"}, {"X-API-Key": "ybrt_wrong"},
    {"Authorization": f"Token {KEYS['backoffice'][0]}"},
    # The hash in the config is not a key.
    {"Authorization": f"Bearer {api_section()['keys']['backoffice']}"},
], ids=["missing", "wrong-bearer", "wrong-x-api-key", "other-scheme", "the-hash"])
async def test_missing_or_bad_keys_are_refused_before_anything_else(
        http: httpx.AsyncClient, headers: dict[str, str]) -> None:
    # The channel name and body are invalid too: an unauthenticated caller learns nothing.
    for response in [await http.post("/api/v1/channels/%23bad/events", content=b"{",
                                      headers=headers),
                     await http.get("/api/v1/channels/%23bad/history", headers=headers)]:
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "authentication_failed"


@pytest.mark.parametrize(("key", "method", "path", "status"), [
    ("publisher", "POST", "channels/alerts/events", 202),
    ("publisher", "GET", "channels/alerts/history", 403),
    ("reader", "POST", "channels/alerts/events", 403),
    ("reader", "GET", "channels/alerts/history", 200),
    ("users-only", "POST", "users/rider-1/events", 202),
    ("users-only", "POST", "channels/user:rider-1/events", 202),
    ("users-only", "POST", "channels/expense_updates/events", 202),
    ("users-only", "GET", "channels/user:rider-1/history", 200),
    ("users-only", "POST", "roles/admin/events", 403),
    ("users-only", "POST", "channels/alerts/events", 403),
    ("users-only", "GET", "channels/alerts/history", 403),
])
async def test_scopes_and_channels_of_each_key(http: httpx.AsyncClient, key: str, method: str,
                                               path: str, status: int) -> None:
    response = await http.request(method, f"/api/v1/{path}", headers=bearer(KEYS[key][0]),
                                  json={"event": "a", "data": 1} if method == "POST" else None)
    assert response.status_code == status
    if status == 403:
        assert response.json()["error"]["code"] == "forbidden"


async def test_a_key_over_its_rate_is_told_to_slow_down(make_gateway: MakeGateway) -> None:
    # One request per thousand seconds after a burst of two: the third cannot fit.
    gateway = await make_gateway(gateway_config(api=api_section(rate_per_s=0.001, burst=2)))
    async with httpx.AsyncClient(base_url=gateway.url) as http:
        statuses = [(await http.get("/api/v1/channels/alerts/history",
                                    headers=bearer())).status_code for _ in range(2)]
        assert statuses == [200, 200]
        response = await http.get("/api/v1/channels/alerts/history", headers=bearer())
        assert response.status_code == 429
        assert response.json()["error"]["code"] == "rate_limited"
        # The next token is a thousand seconds away.
        assert 999 <= int(response.headers["retry-after"]) <= 1000
        # Another key has its own budget.
        other = await http.get("/api/v1/channels/alerts/history",
                               headers=bearer(KEYS["reader"][0]))
        assert other.status_code == 200


def test_users_have_rates_of_their_own_apart_from_keys() -> None:
    ring = KeyRing(ApiConfig(keys={"a": hash_key("ka")}, scopes={"a": ("publish",)},
                             rate_per_s=1.0, burst=1))
    ring.take(Credentials("u-1", "finance"), 0.0)
    with pytest.raises(TooManyRequests) as refused:
        ring.take(Credentials("u-1", "finance"), 0.5)
    assert refused.value.retry_after_s == 1
    ring.take(Credentials("u-2", "finance"), 0.5)
    # A user whose id is a key's name does not share the key's budget.
    ring.take(Credentials("a", "finance"), 0.5)
    ring.take(ring.authenticate({"x-api-key": "ka"}), 0.5)
