"""Orders: validation, and the day's revenue in Dubai time counting each delivery once."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from yellowbox_realtime.domain.orders import ORDER_STATUSES, OrderLedger, validate_order_change
from yellowbox_realtime.errors import ValidationError

# 2026-11-27 19:00 UTC is 23:00 in Dubai; an hour later it is the 28th there.
EVENING = datetime(2026, 11, 27, 19, 0, tzinfo=UTC).timestamp()
MIDNIGHT_DUBAI = EVENING + 3600


def order(order_id: str, status: str, amount: float = 40.0, **extra: Any) -> dict[str, Any]:
    return validate_order_change({"orderId": order_id, "status": status, "amount": amount,
                                  **extra}, EVENING)


def test_a_valid_change_gets_the_defaults_and_the_time() -> None:
    assert order("o-1", "delivered", 35.5, riderId="r1") == {
        "orderId": "o-1", "status": "delivered", "amount": 35.5, "currency": "AED",
        "riderId": "r1", "updatedAt": "2026-11-27T19:00:00.000Z"}


@pytest.mark.parametrize(("change", "message"), [
    ({"status": "lost"}, "status must be one of created, assigned"),
    ({"orderId": "o\x7f"}, "control characters"),
    ({"amount": -5}, "amount must be between"),
    ({"description": "x"}, "unknown order field.*description"),
    ({"amount": None}, "order needs amount"),
])
def test_invalid_changes_are_refused(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        validate_order_change({"orderId": "o-1", "status": "created", "amount": 1, **change},
                              EVENING)


def test_an_order_counts_once_when_it_turns_delivered() -> None:
    ledger = OrderLedger()
    assert ledger.revenue(EVENING) == {"deliveredOrders": 0, "total": {"AED": 0.0},
                                       "day": "2026-11-27"}
    for status in ("created", "assigned", "picked_up"):
        assert ledger.apply(order("o1", status), EVENING) is True
    assert ledger.revenue(EVENING)["deliveredOrders"] == 0
    assert ledger.apply(order("o1", "delivered"), EVENING) is True
    assert ledger.apply(order("o1", "delivered"), EVENING + 5) is False
    ledger.apply(order("o2", "delivered", 10.5, currency="USD"), EVENING)
    assert ledger.revenue(EVENING + 10) == {
        "deliveredOrders": 2, "total": {"AED": 40.0, "USD": 10.5}, "day": "2026-11-27"}


def test_a_cancelled_delivery_is_taken_back_out_and_a_corrected_amount_replaces() -> None:
    ledger = OrderLedger()
    ledger.apply(order("o1", "delivered", 40), EVENING)
    ledger.apply(order("o1", "delivered", 45), EVENING)
    assert ledger.revenue(EVENING)["total"] == {"AED": 45.0}
    ledger.apply(order("o1", "cancelled", 45), EVENING)
    assert ledger.revenue(EVENING)["deliveredOrders"] == 0
    assert ledger.revenue(EVENING)["total"] == {"AED": 0.0}


def test_the_day_starts_again_at_dubai_midnight() -> None:
    ledger = OrderLedger()
    ledger.apply(order("o1", "delivered"), MIDNIGHT_DUBAI - 1)
    assert ledger.revenue(MIDNIGHT_DUBAI - 1)["deliveredOrders"] == 1
    assert ledger.revenue(MIDNIGHT_DUBAI) == {"deliveredOrders": 0, "total": {"AED": 0.0},
                                              "day": "2026-11-28"}
    # Yesterday's delivery repeated, or cancelled, does not touch today.
    assert ledger.apply(order("o1", "delivered", 50), MIDNIGHT_DUBAI + 1) is True
    assert ledger.revenue(MIDNIGHT_DUBAI + 1)["deliveredOrders"] == 0
    ledger.apply(order("o1", "cancelled"), MIDNIGHT_DUBAI + 2)
    assert ledger.revenue(MIDNIGHT_DUBAI + 2)["deliveredOrders"] == 0
    # Delivered again after the cancellation: a new delivery, today.
    ledger.apply(order("o1", "delivered"), MIDNIGHT_DUBAI + 3)
    assert ledger.revenue(MIDNIGHT_DUBAI + 3)["deliveredOrders"] == 1


def test_a_utc_ledger_keeps_the_utc_day() -> None:
    ledger = OrderLedger(utc_offset_h=0)
    ledger.apply(order("o1", "delivered"), MIDNIGHT_DUBAI)
    assert ledger.revenue(MIDNIGHT_DUBAI) == {"deliveredOrders": 1, "total": {"AED": 40.0},
                                              "day": "2026-11-27"}


def test_a_clock_stepping_back_over_midnight_does_not_reset_the_day() -> None:
    ledger = OrderLedger()
    ledger.apply(order("o1", "delivered"), MIDNIGHT_DUBAI + 1)
    assert ledger.revenue(MIDNIGHT_DUBAI - 1) == {"deliveredOrders": 1,
                                                  "total": {"AED": 40.0}, "day": "2026-11-28"}


def test_past_the_cap_orders_not_counted_today_go_first() -> None:
    ledger = OrderLedger(max_orders=2)
    ledger.apply(order("counted", "delivered", 40), EVENING)
    ledger.apply(order("moving", "assigned"), EVENING)
    ledger.apply(order("new", "created"), EVENING)
    assert len(ledger) == 2
    # "moving" went; delivered now, it arrives as new and counts once.
    ledger.apply(order("moving", "delivered", 10), EVENING)
    assert ledger.revenue(EVENING)["deliveredOrders"] == 2
    # Everything kept is counted today: the oldest counted goes, its amount stays.
    ledger.apply(order("another", "delivered", 5), EVENING)
    ledger.apply(order("last", "delivered", 1), EVENING)
    assert ledger.revenue(EVENING) == {"deliveredOrders": 4, "total": {"AED": 56.0},
                                       "day": "2026-11-27"}
    with pytest.raises(ValueError, match="max_orders"):
        OrderLedger(max_orders=0)
    with pytest.raises(ValueError, match="utc_offset_h"):
        OrderLedger(utc_offset_h=24)


CHANGES = st.lists(st.tuples(st.integers(0, 5), st.sampled_from(ORDER_STATUSES),
                             st.sampled_from([0.1, 0.2, 12.5])), max_size=60)


@settings(max_examples=200, deadline=None)
@given(CHANGES)
def test_within_a_day_revenue_is_the_sum_of_orders_now_delivered(
        changes: list[tuple[int, str, float]]) -> None:
    ledger = OrderLedger()
    latest: dict[str, tuple[str, float]] = {}
    for n, status, amount in changes:
        ledger.apply(order(f"o{n}", status, amount), EVENING)
        latest[f"o{n}"] = (status, amount)
    delivered = [a for s, a in latest.values() if s == "delivered"]
    revenue = ledger.revenue(EVENING)
    assert revenue["deliveredOrders"] == len(delivered)
    assert revenue["total"]["AED"] == pytest.approx(sum(delivered), abs=1e-9)
