"""Expenses: validation to the contract's shape, and the ledger's counts through changes."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from yellowbox_realtime.domain.expenses import (
    EXPENSE_STATUSES,
    ExpenseLedger,
    validate_expense_change,
)
from yellowbox_realtime.errors import ValidationError

T0 = 1_790_000_000.0


def expense(expense_id: str, status: str, amount: float = 100.0,
            **extra: Any) -> dict[str, Any]:
    return validate_expense_change({"expenseId": expense_id, "status": status,
                                    "amount": amount, **extra}, T0)


# -- validation ---------------------------------------------------------------------------

def test_a_valid_change_becomes_the_contract_expense() -> None:
    assert validate_expense_change(
        {"expenseId": "exp-1", "status": "approved", "amount": 125, "currency": "USD",
         "riderId": "rider-7", "description": "Fuel"}, T0) == {
        "expenseId": "exp-1", "status": "approved", "amount": 125.0, "currency": "USD",
        "riderId": "rider-7", "description": "Fuel", "updatedAt": "2026-09-21T14:13:20.000Z"}
    assert validate_expense_change(
        {"expenseId": "e", "status": "paid", "amount": 0, "riderId": None}, T0) == {
        "expenseId": "e", "status": "paid", "amount": 0.0, "currency": "AED",
        "updatedAt": "2026-09-21T14:13:20.000Z"}


BASE = {"expenseId": "exp-1", "status": "submitted", "amount": 10}


@pytest.mark.parametrize(("change", "message"), [
    ({"expenseId": ""}, "expenseId must be a string of 1 to 128"),
    ({"expenseId": "x" * 129}, "expenseId must be a string of 1 to 128"),
    ({"expenseId": 12}, "expenseId must be a string"),
    ({"expenseId": "exp\n1"}, "control characters"),
    ({"expenseId": None}, "needs expenseId"),
    ({"status": "lost"}, "status must be one of submitted, pending"),
    ({"amount": -1}, "amount must be between 0 and 1000000000"),
    ({"amount": 1e9 + 1}, "amount must be between"),
    ({"amount": math.inf}, "amount must be between"),
    ({"amount": math.nan}, "amount must be between"),
    ({"amount": "10"}, "amount must be a number"),
    ({"amount": True}, "amount must be a number"),
    ({"currency": "aed"}, "ISO 4217"),
    ({"currency": "DIRHAM"}, "ISO 4217"),
    ({"riderId": "r\x00"}, "riderId must not contain control"),
    ({"description": "x" * 501}, "description must be a string of at most 500"),
    ({"updatedAt": "2026-01-01T00:00:00Z", "approver": "x"},
     "unknown expense field.*approver, updatedAt"),
])
def test_invalid_changes_are_refused_naming_the_field(change: dict[str, Any],
                                                      message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        validate_expense_change({**BASE, **change}, T0)


def test_a_change_must_be_an_object() -> None:
    with pytest.raises(ValidationError, match="expense must be an object"):
        validate_expense_change(["exp-1"], T0)


# -- the ledger ---------------------------------------------------------------------------

def test_counts_follow_an_expense_through_its_life() -> None:
    ledger = ExpenseLedger()
    steps = [("submitted", 1, 0.0), ("pending", 1, 0.0), ("approved", 0, 100.0),
             ("paid", 0, 100.0)]
    for status, pending, approved in steps:
        assert ledger.apply(expense("e1", status)) is True
        assert ledger.pending() == pending
        assert ledger.approved_total() == {"AED": approved}
    assert ledger.apply(expense("e2", "rejected")) is True
    assert ledger.approved_total() == {"AED": 100.0}


def test_a_retry_changes_nothing_but_a_corrected_amount_does() -> None:
    ledger = ExpenseLedger()
    ledger.apply(expense("e1", "approved", 50))
    assert ledger.apply(expense("e1", "approved", 50, description="again")) is False
    assert ledger.approved_total() == {"AED": 50.0}
    assert ledger.apply(expense("e1", "approved", 70)) is True
    assert ledger.approved_total() == {"AED": 70.0}
    ledger.apply(expense("e2", "approved", 5, currency="USD"))
    assert ledger.approved_total() == {"AED": 70.0, "USD": 5.0}
    ledger.apply(expense("e2", "rejected", 5, currency="USD"))
    assert ledger.approved_total() == {"AED": 70.0}


def test_recent_is_newest_change_first() -> None:
    ledger = ExpenseLedger()
    for expense_id in ("e1", "e2", "e3"):
        ledger.apply(expense(expense_id, "submitted"))
    ledger.apply(expense("e1", "approved"))
    assert [e["expenseId"] for e in ledger.recent()] == ["e1", "e3", "e2"]
    assert [e["expenseId"] for e in ledger.recent(2)] == ["e1", "e3"]
    assert ledger.recent(0) == []


def test_past_the_cap_final_expenses_go_first_and_stay_counted() -> None:
    ledger = ExpenseLedger(max_expenses=2)
    ledger.apply(expense("paid", "paid", 30))
    ledger.apply(expense("open-1", "submitted"))
    ledger.apply(expense("open-2", "pending"))
    assert [e["expenseId"] for e in ledger.recent()] == ["open-2", "open-1"]
    assert (ledger.pending(), ledger.approved_total()) == (2, {"AED": 30.0})
    # All kept are open now: the oldest open one goes and leaves the counts.
    ledger.apply(expense("approved", "approved", 20))
    assert [e["expenseId"] for e in ledger.recent()] == ["approved", "open-2"]
    assert (ledger.pending(), ledger.approved_total()) == (1, {"AED": 50.0})
    with pytest.raises(ValueError, match="max_expenses"):
        ExpenseLedger(max_expenses=0)


CHANGES = st.lists(st.tuples(st.integers(0, 5), st.sampled_from(EXPENSE_STATUSES),
                             st.sampled_from([0.1, 0.2, 10.0, 99.99])), max_size=60)


@settings(max_examples=200, deadline=None)
@given(CHANGES)
def test_counts_match_a_recount_of_the_latest_states(
        changes: list[tuple[int, str, float]]) -> None:
    ledger = ExpenseLedger()
    latest: dict[str, tuple[str, float]] = {}
    for n, status, amount in changes:
        changed = ledger.apply(expense(f"e{n}", status, amount))
        assert changed == (latest.get(f"e{n}") != (status, amount))
        latest[f"e{n}"] = (status, amount)
    assert ledger.pending() == sum(s in ("submitted", "pending") for s, _ in latest.values())
    approved = sum(a for s, a in latest.values() if s in ("approved", "paid"))
    assert math.isclose(ledger.approved_total()["AED"], approved, abs_tol=1e-9)
