"""Shared record fields: the rules each check enforces, named in its message."""

from __future__ import annotations

from typing import Any

import pytest

from yellowbox_realtime.domain import fields
from yellowbox_realtime.errors import ValidationError


def test_known_fields_names_the_unknown_and_the_missing() -> None:
    data = {"a": 1, "b": None}
    assert fields.known_fields(data, "thing", ["a"], ["b"]) is data
    with pytest.raises(ValidationError, match=r"unknown thing field\(s\): c, d"):
        fields.known_fields({"a": 1, "d": 1, "c": 2}, "thing", ["a"], [])
    with pytest.raises(ValidationError, match="thing needs a, b"):
        fields.known_fields({}, "thing", ["a", "b"], [])


@pytest.mark.parametrize("good", ["a", "x" * 128, "rider-7@ops:1", "é"])
def test_ids_accept_printable_strings_up_to_128(good: str) -> None:
    assert fields.record_id(good, "id") == good


@pytest.mark.parametrize("bad", ["", "x" * 129, "a\tb", "a\u0085b", 7, None])
def test_ids_refuse_empty_long_control_and_non_strings(bad: Any) -> None:
    with pytest.raises(ValidationError, match="id must"):
        fields.record_id(bad, "id")


def test_currency_defaults_to_dirhams() -> None:
    assert fields.currency(None) == "AED"
    assert fields.currency("EUR") == "EUR"
    with pytest.raises(ValidationError, match="ISO 4217"):
        fields.currency("EU")


def test_amount_limits_are_inclusive() -> None:
    assert fields.amount(0) == 0.0
    assert fields.amount(1e9) == 1e9
    assert fields.optional_text(None, "note", 5) is None
    with pytest.raises(ValidationError, match="note must be a string of at most 5"):
        fields.optional_text("toolong", "note", 5)
