"""Inbound webhook verification: signatures, shared secrets, replays, sizes and secrets."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yellowbox_realtime.api.webhook_auth import (
    SECRET_HEADER,
    ReplayCache,
    Verified,
    WebhookAuthConfig,
    WebhookVerifier,
)
from yellowbox_realtime.errors import (
    AuthenticationError,
    ConfigError,
    PayloadTooLarge,
    ReplayedRequest,
    ReplayWindowFull,
    SignatureInvalid,
)
from yellowbox_realtime.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign, signed_headers

SECRET = "whsec-test-0123456789abcdef"
OTHER = "whsec-other-0123456789abcdef"
NOW = 1_767_225_600.0
BODY = b'{"id":"evt-1","event":"expense_approved"}'


def verifier(**overrides: object) -> WebhookVerifier:
    fields: dict[str, object] = {"secrets": (SECRET,), **overrides}
    return WebhookVerifier(WebhookAuthConfig(**fields))  # type: ignore[arg-type]


def test_the_signature_matches_an_independent_hmac() -> None:
    # From `printf '%s' '1767225600.<body>' | openssl dgst -sha256 -hmac <secret>`.
    assert sign(SECRET, 1_767_225_600, BODY) == \
        "v1=82efbd6f66c088120cf37bb89e1c04711dd7198893b469d6280504950b42d6a0"
    assert signed_headers(SECRET, BODY, NOW + 0.9) == {
        TIMESTAMP_HEADER: "1767225600",
        SIGNATURE_HEADER: "v1=82efbd6f66c088120cf37bb89e1c04711dd7198893b469d6280504950b42d6a0"}


def test_a_signed_request_verifies_and_says_how() -> None:
    verified = verifier().verify(signed_headers(SECRET, BODY, NOW), BODY, NOW + 10)
    assert verified.method == "signature"
    assert verified.timestamp == int(NOW)
    assert verified.replay_key is not None


def test_any_of_the_configured_secrets_and_any_presented_signature_may_match() -> None:
    rotating = verifier(secrets=(OTHER, SECRET))
    assert rotating.verify(signed_headers(SECRET, BODY, NOW), BODY, NOW).method == "signature"
    both = {TIMESTAMP_HEADER: str(int(NOW)),
            SIGNATURE_HEADER: f"v0=abc, {sign(OTHER, int(NOW), BODY)} ,"
                              f"{sign(SECRET, int(NOW), BODY)}"}
    assert verifier().verify(both, BODY, NOW).method == "signature"
    upper = {TIMESTAMP_HEADER: str(int(NOW)),
             SIGNATURE_HEADER: sign(SECRET, int(NOW), BODY).upper().replace("V1=", "v1=")}
    assert verifier().verify(upper, BODY, NOW).method == "signature"


@pytest.mark.parametrize(("headers", "message"), [
    ({}, "unsigned request"),
    ({TIMESTAMP_HEADER: str(int(NOW))}, "needs both"),
    ({SIGNATURE_HEADER: sign(SECRET, int(NOW), BODY)}, "needs both"),
    ({TIMESTAMP_HEADER: "1767225600.0", SIGNATURE_HEADER: sign(SECRET, int(NOW), BODY)},
     "Unix seconds"),
    ({TIMESTAMP_HEADER: "+1767225600", SIGNATURE_HEADER: sign(SECRET, int(NOW), BODY)},
     "Unix seconds"),
    ({TIMESTAMP_HEADER: "1_767_225_600", SIGNATURE_HEADER: sign(SECRET, int(NOW), BODY)},
     "Unix seconds"),
    ({TIMESTAMP_HEADER: str(int(NOW)), SIGNATURE_HEADER: "sha256=00"}, "must be 'v1=<hex>'"),
    ({TIMESTAMP_HEADER: str(int(NOW)), SIGNATURE_HEADER: "v1=" + "0" * 64}, "does not match"),
    ({TIMESTAMP_HEADER: str(int(NOW)), SIGNATURE_HEADER: "v1=not-hex"}, "does not match"),
    ({TIMESTAMP_HEADER: str(int(NOW)), SIGNATURE_HEADER: sign(OTHER, int(NOW), BODY)},
     "does not match"),
    ({TIMESTAMP_HEADER: str(int(NOW)), SIGNATURE_HEADER: "v1=" + "a" * 2000}, "too long"),
    ({SECRET_HEADER: SECRET}, "signed requests only"),
])
def test_unsigned_malformed_or_wrongly_signed_requests_are_401(headers: dict[str, str],
                                                               message: str) -> None:
    with pytest.raises(SignatureInvalid, match=message) as refused:
        verifier().verify(headers, BODY, NOW)
    assert isinstance(refused.value, AuthenticationError)
    assert refused.value.http_status == 401


@given(st.binary(min_size=1, max_size=64), st.integers(min_value=0, max_value=10**6))
def test_a_signature_covers_every_byte_of_the_body(tail: bytes, position: int) -> None:
    original = b'{"id":"evt-2","data":' + tail + b"}"
    index = position % len(original)
    changed = bytearray(original)
    changed[index] ^= 0x01
    headers = signed_headers(SECRET, original, NOW)
    with pytest.raises(SignatureInvalid, match="does not match"):
        verifier().verify(headers, bytes(changed), NOW)


def test_a_signature_covers_the_timestamp() -> None:
    headers = signed_headers(SECRET, BODY, NOW)
    headers[TIMESTAMP_HEADER] = str(int(NOW) + 1)
    with pytest.raises(SignatureInvalid, match="does not match"):
        verifier().verify(headers, BODY, NOW)


@pytest.mark.parametrize(("sent_at", "accepted"), [
    (NOW - 300, True), (NOW + 300, True), (NOW - 301, False), (NOW + 301, False),
    (NOW - 86_400, False), (0.0, False)])
def test_the_timestamp_must_be_within_the_tolerance_either_way(sent_at: float,
                                                               accepted: bool) -> None:
    headers = signed_headers(SECRET, BODY, sent_at)
    if accepted:
        assert verifier().verify(headers, BODY, NOW).timestamp == int(sent_at)
    else:
        with pytest.raises(SignatureInvalid, match="away from the receiver's clock"):
            verifier().verify(headers, BODY, NOW)


def test_the_same_signed_request_again_is_a_replay_409() -> None:
    check = verifier()
    headers = signed_headers(SECRET, BODY, NOW)
    check.verify(headers, BODY, NOW)
    with pytest.raises(ReplayedRequest) as refused:
        check.verify(headers, BODY, NOW + 5)
    assert refused.value.http_status == 409
    # Signed with the other secret, or with its signatures rearranged: still the same request.
    rotating = verifier(secrets=(SECRET, OTHER))
    rotating.verify(headers, BODY, NOW)
    resigned = {TIMESTAMP_HEADER: headers[TIMESTAMP_HEADER],
                SIGNATURE_HEADER: sign(OTHER, int(NOW), BODY)}
    with pytest.raises(ReplayedRequest):
        rotating.verify(resigned, BODY, NOW + 1)


def test_a_retry_signed_afresh_is_not_a_replay() -> None:
    check = verifier()
    check.verify(signed_headers(SECRET, BODY, NOW), BODY, NOW)
    check.verify(signed_headers(SECRET, BODY, NOW + 1), BODY, NOW + 1)


def test_a_released_request_may_come_again() -> None:
    check = verifier()
    headers = signed_headers(SECRET, BODY, NOW)
    verified = check.verify(headers, BODY, NOW)
    check.release(verified)
    assert check.verify(headers, BODY, NOW + 1) == verified


def test_a_request_is_remembered_until_its_timestamp_goes_stale_then_refused_as_stale() -> None:
    check = verifier(tolerance_s=60)
    headers = signed_headers(SECRET, BODY, NOW)
    check.verify(headers, BODY, NOW - 60)
    with pytest.raises(ReplayedRequest):
        check.verify(headers, BODY, NOW + 60)
    with pytest.raises(SignatureInvalid, match="away from"):
        check.verify(headers, BODY, NOW + 61)


def test_forged_requests_are_not_remembered() -> None:
    check = verifier(max_remembered=1)
    for n in range(5):
        headers = {TIMESTAMP_HEADER: str(int(NOW)), SIGNATURE_HEADER: f"v1={n:064x}"}
        with pytest.raises(SignatureInvalid):
            check.verify(headers, BODY, NOW)
    check.verify(signed_headers(SECRET, BODY, NOW), BODY, NOW)


def test_at_the_bound_new_requests_are_refused_until_old_ones_expire() -> None:
    check = verifier(max_remembered=2, tolerance_s=10)
    for n in range(2):
        body = b'{"n":%d}' % n
        check.verify(signed_headers(SECRET, body, NOW), body, NOW)
    third = b'{"n":2}'
    with pytest.raises(ReplayWindowFull) as refused:
        check.verify(signed_headers(SECRET, third, NOW + 10), third, NOW + 10)
    assert refused.value.http_status == 503
    assert refused.value.temporary
    check.verify(signed_headers(SECRET, third, NOW + 11), third, NOW + 11)


def test_the_cache_drops_keys_by_their_own_expiry_not_arrival() -> None:
    cache = ReplayCache(capacity=10)
    assert cache.add(b"late", 100.0, 0.0)
    assert cache.add(b"early", 50.0, 0.0)
    assert not cache.add(b"early", 50.0, 50.0)
    assert cache.add(b"other", 70.0, 51.0)
    assert len(cache) == 2  # "early" dropped, "late" kept though it came first
    assert not cache.add(b"late", 100.0, 51.0)
    cache.discard(b"late")
    assert cache.add(b"late", 120.0, 52.0)
    assert len(cache) == 2
    assert cache.add(b"x", 200.0, 101.0)  # "other" (70) dropped; "late" re-added (120) kept
    assert len(cache) == 2


def test_a_shared_secret_is_accepted_only_when_configured_and_only_the_right_one() -> None:
    check = verifier(accept_shared_secret=True, secrets=(OTHER, SECRET))
    assert check.verify({SECRET_HEADER: SECRET}, BODY, NOW) == Verified("shared_secret")
    assert check.verify({SECRET_HEADER: f" {OTHER} "}, BODY, NOW).method == "shared_secret"
    for wrong in ("", SECRET[:-1], SECRET + "x", "s" * 5000):
        with pytest.raises(SignatureInvalid, match="X-Yellowbox-Secret"):
            check.verify({SECRET_HEADER: wrong}, BODY, NOW)
    with pytest.raises(SignatureInvalid, match="or X-Yellowbox-Secret"):
        check.verify({}, BODY, NOW)


def test_a_signature_is_checked_even_when_a_shared_secret_is_also_sent() -> None:
    check = verifier(accept_shared_secret=True)
    headers = {SECRET_HEADER: SECRET, TIMESTAMP_HEADER: str(int(NOW)),
               SIGNATURE_HEADER: "v1=" + "0" * 64}
    with pytest.raises(SignatureInvalid, match="does not match"):
        check.verify(headers, BODY, NOW)


def test_oversized_bodies_are_413_before_and_after_reading() -> None:
    check = verifier(max_body_bytes=16)
    check.check_length({"content-length": "16"})
    check.check_length({})
    with pytest.raises(PayloadTooLarge) as refused:
        check.check_length({"content-length": "17"})
    assert refused.value.http_status == 413
    body = b"x" * 17
    # Refused before the signature is looked at: a large forged body costs no HMAC.
    with pytest.raises(PayloadTooLarge):
        check.verify(signed_headers(SECRET, body, NOW), body, NOW)
    with pytest.raises(PayloadTooLarge):
        check.verify({}, body, NOW)


@pytest.mark.parametrize(("overrides", "key"), [
    ({"secrets": ()}, "n8n.secrets"),
    ({"secrets": ("short",)}, "n8n.secrets[0]"),
    ({"secrets": (SECRET, " " + OTHER)}, "n8n.secrets[1]"),
    ({"tolerance_s": 0}, "n8n.tolerance_s"),
    ({"max_body_bytes": -1}, "n8n.max_body_bytes"),
    ({"max_remembered": 0}, "n8n.max_remembered"),
])
def test_bad_configuration_names_the_key(overrides: dict[str, object], key: str) -> None:
    fields: dict[str, object] = {"secrets": (SECRET,), **overrides}
    with pytest.raises(ConfigError, match=key.replace("[", r"\[").replace("]", r"\]")):
        WebhookVerifier(WebhookAuthConfig(**fields), where="n8n")  # type: ignore[arg-type]
