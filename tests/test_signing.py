"""The webhook signature: what the headers carry and what a verifier accepts (both ways:
the outbox's deliveries and the inbound webhooks use this one module)."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from yellowbox_realtime.errors import ConfigError, SignatureInvalid
from yellowbox_realtime.signing import check_secrets, sign, signed_headers, verify

BODY = b'{"id":"k:1","event":"x","data":{"a":1}}'
NOW = 1_800_000_000.0


def lower(headers: dict[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def test_the_headers_and_the_signature_a_receiver_can_recompute() -> None:
    headers = signed_headers("s3cret", BODY, NOW, idempotency_key="k:1")
    assert set(headers) == {"Idempotency-Key", "X-Yellowbox-Timestamp", "X-Yellowbox-Signature"}
    assert headers["Idempotency-Key"] == "k:1"
    assert headers["X-Yellowbox-Timestamp"] == "1800000000"
    # Recomputed from the documented recipe, not with the module's own function.
    expected = hmac.new(b"s3cret", b"1800000000." + BODY, hashlib.sha256).hexdigest()
    assert headers["X-Yellowbox-Signature"] == f"v1={expected}"
    assert verify("s3cret", headers, BODY, NOW) == 1800000000
    assert verify("s3cret", lower(headers), BODY, NOW + 299) == 1800000000


@pytest.mark.parametrize(("change", "needle"), [
    (lambda h, b: ({**h, "x-yellowbox-signature": "v1=" + "0" * 64}, b), "does not match"),
    (lambda h, b: (h, b + b" "), "does not match"),
    (lambda h, b: ({**h, "x-yellowbox-timestamp": str(int(NOW) + 1)}, b), "does not match"),
    (lambda h, b: ({k: v for k, v in h.items() if k != "x-yellowbox-signature"}, b),
     "needs both"),
    (lambda h, b: ({k: v for k, v in h.items() if k != "x-yellowbox-timestamp"}, b),
     "needs both"),
    (lambda h, b: ({}, b), "unsigned request"),
    (lambda h, b: ({**h, "x-yellowbox-timestamp": "1800000000.0"}, b), "Unix seconds"),
    (lambda h, b: ({**h, "x-yellowbox-timestamp": "+1800000000"}, b), "Unix seconds"),
    (lambda h, b: ({**h, "x-yellowbox-signature": "v1=" + "a" * 2000}, b), "too long"),
    (lambda h, b: ({**h, "x-yellowbox-timestamp": "yesterday"}, b), "Unix seconds"),
    (lambda h, b: ({**h, "x-yellowbox-signature": h["x-yellowbox-signature"][3:]}, b),
     "v1=<hex>"),
    (lambda h, b: ({**h, "x-yellowbox-signature": "v2" + h["x-yellowbox-signature"][2:]}, b),
     "v1=<hex>"),
])
def test_tampering_is_refused(change, needle) -> None:  # type: ignore[no-untyped-def]
    headers, body = change(lower(signed_headers("s3cret", BODY, NOW, "k:1")), BODY)
    with pytest.raises(SignatureInvalid, match=needle):
        verify("s3cret", headers, body, NOW)


def test_another_secret_and_old_or_future_timestamps_are_refused() -> None:
    headers = signed_headers("s3cret", BODY, NOW, "k:1")
    with pytest.raises(SignatureInvalid, match="does not match"):
        verify("other", headers, BODY, NOW)
    with pytest.raises(SignatureInvalid, match="away from the receiver's clock"):
        verify("s3cret", headers, BODY, NOW + 301)
    with pytest.raises(SignatureInvalid, match="away from the receiver's clock"):
        verify("s3cret", headers, BODY, NOW - 31, tolerance_s=30)


def test_any_of_several_signatures_may_match_for_secret_rotation() -> None:
    new = signed_headers("new", BODY, NOW)
    old = signed_headers("old", BODY, NOW)
    both = {**new, "X-Yellowbox-Signature":
            f"{old['X-Yellowbox-Signature']}, {new['X-Yellowbox-Signature']}"}
    assert verify("new", both, BODY, NOW) == int(NOW)
    assert verify("old", both, BODY, NOW) == int(NOW)
    with pytest.raises(SignatureInvalid):
        verify("third", both, BODY, NOW)


def test_a_receiver_may_hold_several_secrets_and_any_may_match() -> None:
    headers = signed_headers("old", BODY, NOW)
    assert verify(["new", "old"], headers, BODY, NOW) == int(NOW)
    assert verify(("old",), headers, BODY, NOW) == int(NOW)
    with pytest.raises(SignatureInvalid, match="does not match"):
        verify(["new", "third"], headers, BODY, NOW)
    with pytest.raises(SignatureInvalid, match="does not match"):
        verify([], headers, BODY, NOW)


def test_upper_case_hex_and_other_schemes_beside_v1_are_accepted() -> None:
    value = sign("s3cret", int(NOW), BODY)
    headers = {"X-Yellowbox-Timestamp": str(int(NOW)),
               "X-Yellowbox-Signature": f"v0=abc, v1={value[3:].upper()}"}
    assert verify("s3cret", headers, BODY, NOW) == int(NOW)


@pytest.mark.parametrize("secret", ["short", " " + "x" * 20, "x" * 20 + "\n"])
def test_weak_or_padded_secrets_are_refused_naming_the_key(secret: str) -> None:
    check_secrets("webhooks.secrets.n8n", ["y" * 16])
    with pytest.raises(ConfigError, match=r"webhooks\.secrets\.n8n\[1\]"):
        check_secrets("webhooks.secrets.n8n", ["y" * 16, secret])


def test_the_error_is_a_401() -> None:
    assert SignatureInvalid("x").http_status == 401
