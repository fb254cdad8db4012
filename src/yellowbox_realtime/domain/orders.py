"""Order status changes, and the day's revenue from delivered orders (pure).

An order counts in the revenue of the local day on which it turned delivered, once: a
retried or repeated ``delivered`` does not add again (nor move it to a later day), and a
delivered order that is then cancelled is taken back out if it was counted today. The day
is a calendar day at a fixed offset from UTC (Dubai: +4, which has no daylight saving), and
the totals start again from zero at local midnight.

Bounded by ``max_orders``. Past it, the order changed longest ago among those not counted
today goes first (an order still on its way that is forgotten counts normally when it is
delivered: it arrives as new). Only if every order kept was delivered today does one of
those go, and its amount stays in the day's total; a cancellation of it arriving later
cannot be taken out, and a repeated ``delivered`` would add it again.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import fields
from .money import Totals
from .wiretime import day_at_offset, iso

__all__ = ["ORDER_STATUSES", "OrderLedger", "validate_order_change"]

ORDER_STATUSES = ("created", "assigned", "picked_up", "delivered", "cancelled")


def validate_order_change(data: Any, now: float) -> dict[str, Any]:
    """Check an order status change: ``{orderId, status, amount, currency, riderId?,
    updatedAt}``."""
    data = fields.known_fields(data, "order", ("orderId", "status", "amount"),
                               ("currency", "riderId"))
    order: dict[str, Any] = {
        "orderId": fields.record_id(data["orderId"], "orderId"),
        "status": fields.status(data["status"], ORDER_STATUSES),
        "amount": fields.amount(data["amount"]),
        "currency": fields.currency(data.get("currency")),
    }
    if data.get("riderId") is not None:
        order["riderId"] = fields.record_id(data["riderId"], "riderId")
    order["updatedAt"] = iso(now)
    return order


@dataclass(slots=True)
class _Order:
    status: str
    amount: float
    currency: str
    # The local day it turned delivered, while it is delivered.
    delivered_day: str | None


class OrderLedger:
    def __init__(self, utc_offset_h: float = 4.0, max_orders: int = 100_000) -> None:
        if not -14 <= utc_offset_h <= 14:
            raise ValueError(f"utc_offset_h must be within 14 hours, got {utc_offset_h!r}")
        if max_orders <= 0:
            raise ValueError(f"max_orders must be positive, got {max_orders!r}")
        self.utc_offset_h = utc_offset_h
        self.max_orders = max_orders
        self._orders: dict[str, _Order] = {}
        # Every kept order is in exactly one of these, changed longest ago first.
        self._counted: OrderedDict[str, None] = OrderedDict()   # delivered today
        self._others: OrderedDict[str, None] = OrderedDict()
        self._day: str | None = None
        self._delivered = 0
        self._total = Totals()

    def apply(self, order: Mapping[str, Any], now: float) -> bool:
        """Follow a validated change; ``False`` when nothing changed (a retry)."""
        today = self._roll(now)
        order_id = str(order["orderId"])
        status, amount, currency = order["status"], order["amount"], order["currency"]
        known = self._orders.get(order_id)
        if known is not None:
            if (known.status, known.amount, known.currency) == (status, amount, currency):
                return False
            if known.delivered_day == today:
                self._count(known, -1)
        delivered_day = None
        if status == "delivered":
            # Still the day it first turned delivered, if it already was.
            delivered_day = (known.delivered_day if known is not None else None) or today
        record = _Order(status, amount, currency, delivered_day)
        self._orders[order_id] = record
        self._counted.pop(order_id, None)
        self._others.pop(order_id, None)
        if delivered_day == today:
            self._count(record, +1)
            self._counted[order_id] = None
        else:
            self._others[order_id] = None
        while len(self._orders) > self.max_orders:
            evicted, _ = (self._others or self._counted).popitem(last=False)
            del self._orders[evicted]
        return True

    def revenue(self, now: float) -> dict[str, Any]:
        day = self._roll(now)
        return {"deliveredOrders": self._delivered, "total": self._total.as_dict(), "day": day}

    def __len__(self) -> int:
        return len(self._orders)

    def _roll(self, now: float) -> str:
        """Today's local day, starting the totals again when it is a new one."""
        day = day_at_offset(now, self.utc_offset_h)
        if day != self._day:
            if self._day is not None and day < self._day:
                # A clock stepping back over midnight: keep the later day's totals rather
                # than reset them and count the same deliveries again.
                return self._day
            self._day = day
            self._delivered = 0
            self._total = Totals()
            self._others.update(self._counted)
            self._counted.clear()
        return day

    def _count(self, order: _Order, sign: int) -> None:
        self._delivered += sign
        if sign > 0:
            self._total.add(order.currency, order.amount)
        else:
            self._total.remove(order.currency, order.amount)
