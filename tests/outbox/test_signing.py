"""Signed deliveries: what the headers carry and what a verifier accepts."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from yellowbox_realtime.outbox.signing import SignatureInvalid, signed_headers, verify

BODY = b'{"id":"k:1","event":"x","data":{"a":1}}'
NOW = 1_800_000_000.0


def lower(headers: dict[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def test_the_headers_and_the_signature_a_receiver_can_recompute() -> None:
    headers = signed_headers("s3cret", BODY, "k:1", NOW)
    assert headers["Content-Type"] == "application/json"
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
     "unsigned"),
    (lambda h, b: ({k: v for k, v in h.items() if k != "x-yellowbox-timestamp"}, b),
     "unsigned"),
    (lambda h, b: ({**h, "x-yellowbox-timestamp": "yesterday"}, b), "Unix seconds"),
    (lambda h, b: ({**h, "x-yellowbox-signature": h["x-yellowbox-signature"][3:]}, b),
     "v1=<hex>"),
    (lambda h, b: ({**h, "x-yellowbox-signature": "v2" + h["x-yellowbox-signature"][2:]}, b),
     "v1=<hex>"),
])
def test_tampering_is_refused(change, needle) -> None:  # type: ignore[no-untyped-def]
    headers, body = change(lower(signed_headers("s3cret", BODY, "k:1", NOW)), BODY)
    with pytest.raises(SignatureInvalid, match=needle):
        verify("s3cret", headers, body, NOW)


def test_another_secret_and_old_or_future_timestamps_are_refused() -> None:
    headers = signed_headers("s3cret", BODY, "k:1", NOW)
    with pytest.raises(SignatureInvalid, match="does not match"):
        verify("other", headers, BODY, NOW)
    with pytest.raises(SignatureInvalid, match="away from the server's clock"):
        verify("s3cret", headers, BODY, NOW + 301)
    with pytest.raises(SignatureInvalid, match="away from the server's clock"):
        verify("s3cret", headers, BODY, NOW - 31, tolerance_s=30)


def test_any_of_several_signatures_may_match_for_secret_rotation() -> None:
    new = signed_headers("new", BODY, "k:1", NOW)
    old = signed_headers("old", BODY, "k:1", NOW)
    both = {**new, "X-Yellowbox-Signature":
            f"{old['X-Yellowbox-Signature']}, {new['X-Yellowbox-Signature']}"}
    assert verify("new", both, BODY, NOW) == int(NOW)
    assert verify("old", both, BODY, NOW) == int(NOW)
    with pytest.raises(SignatureInvalid):
        verify("third", both, BODY, NOW)


def test_the_error_is_a_401() -> None:
    assert SignatureInvalid("x").http_status == 401
