"""Which origins the gateway calls its own, for each kind of address it can listen on (the
transports' tests check the same decision over real connections on loopback)."""

from __future__ import annotations

import pytest

from yellowbox_realtime.server.origins import OwnOrigins, origin_allowed


def allowed(own: OwnOrigins, origin: str, host: str | None = None,
            allow_list: tuple[str, ...] = ()) -> bool:
    headers = {"origin": origin} | ({"host": host} if host is not None else {})
    return origin_allowed(allow_list, own, headers)


@pytest.mark.parametrize("bound", ["127.0.0.1", "::1"])
def test_a_loopback_address_is_localhost_and_both_loopback_ips(bound: str) -> None:
    own = OwnOrigins.listening([bound], [(bound, 3011)], tls=False)
    for origin in ("http://localhost:3011", "http://127.0.0.1:3011", "http://[::1]:3011",
                   "HTTP://LOCALHOST:3011"):
        assert allowed(own, origin)
    for origin in ("http://localhost:3012", "https://localhost:3011", "http://localhost",
                   "http://evil.example:3011", "null"):
        assert not allowed(own, origin)
    # A specific address does not believe the Host header (DNS rebinding).
    assert not allowed(own, "http://rebound.example:3011", host="rebound.example:3011")


def test_tls_makes_the_scheme_https_and_default_ports_are_left_out() -> None:
    own = OwnOrigins.listening(["10.1.2.3"], [("10.1.2.3", 443)], tls=True)
    assert allowed(own, "https://10.1.2.3")
    assert not allowed(own, "https://10.1.2.3:443")
    assert not allowed(own, "http://10.1.2.3")
    assert not allowed(own, "https://localhost")


def test_a_host_name_to_listen_on_is_an_own_origin_too() -> None:
    own = OwnOrigins.listening(["gateway.internal"], [("10.1.2.3", 3001)], tls=False)
    assert allowed(own, "http://gateway.internal:3001")
    assert allowed(own, "http://10.1.2.3:3001")
    assert not allowed(own, "http://other.internal:3001")


@pytest.mark.parametrize("bound", ["0.0.0.0", "::"])
def test_a_wildcard_address_allows_the_origin_that_names_the_requests_host(
        bound: str) -> None:
    own = OwnOrigins.listening([bound], [(bound, 3001)], tls=False)
    assert allowed(own, "http://fleet.example:8000", host="fleet.example:8000")
    assert allowed(own, "http://fleet.example:8000", host="Fleet.Example:8000")
    assert not allowed(own, "http://fleet.example:8000", host="fleet.example:8001")
    assert not allowed(own, "https://fleet.example:8000", host="fleet.example:8000")
    assert not allowed(own, "http://evil.example", host="fleet.example:8000")
    assert not allowed(own, "http://fleet.example:8000")


def test_the_allow_list_and_requests_without_origin_still_decide_as_before() -> None:
    own = OwnOrigins.listening(["127.0.0.1"], [("127.0.0.1", 3011)], tls=False)
    assert origin_allowed((), own, {})
    assert allowed(own, "https://app.example", allow_list=("https://app.example",))
    assert allowed(own, "https://anything.example", allow_list=("*",))
    assert not allowed(own, "https://app.example", allow_list=("https://other.example",))
