"""Expense status changes from the back office, and the counts the dashboard shows (pure).

The gateway does not own expenses (Firebase does); it follows their changes as they flow
through it, to show how many wait for a decision and how much was approved.

Bounded by ``max_expenses``. Past it, an expense in a final state (rejected or paid) goes
first, the one changed longest ago: its part of the totals stays counted, because a final
expense does not change again. Only when every expense kept is still open does the oldest
open one go, and then its part comes out of the totals (it is no longer followed, so it
must not be counted as pending forever); if it changes later it comes back as new and is
counted once again. What this cannot get right: a change to a final expense after it was
evicted (a paid expense reopened, or a retry arriving after 100,000 other changes) is
counted as new, so it adds a second time.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from . import fields
from .money import Totals
from .wiretime import iso

__all__ = ["EXPENSE_STATUSES", "ExpenseLedger", "validate_expense_change"]

EXPENSE_STATUSES = ("submitted", "pending", "approved", "rejected", "paid")
_WAITING = frozenset({"submitted", "pending"})
_APPROVED = frozenset({"approved", "paid"})
_FINAL = frozenset({"rejected", "paid"})
MAX_DESCRIPTION_CHARS = 500


def validate_expense_change(data: Any, now: float) -> dict[str, Any]:
    """Check a status change from the back office; the contract's ``Expense``."""
    data = fields.known_fields(data, "expense", ("expenseId", "status", "amount"),
                               ("currency", "riderId", "description"))
    expense: dict[str, Any] = {
        "expenseId": fields.record_id(data["expenseId"], "expenseId"),
        "status": fields.status(data["status"], EXPENSE_STATUSES),
        "amount": fields.amount(data["amount"]),
        "currency": fields.currency(data.get("currency")),
    }
    if data.get("riderId") is not None:
        expense["riderId"] = fields.record_id(data["riderId"], "riderId")
    description = fields.optional_text(data.get("description"), "description",
                                       MAX_DESCRIPTION_CHARS)
    if description is not None:
        expense["description"] = description
    expense["updatedAt"] = iso(now)
    return expense


class ExpenseLedger:
    def __init__(self, max_expenses: int = 100_000) -> None:
        if max_expenses <= 0:
            raise ValueError(f"max_expenses must be positive, got {max_expenses!r}")
        self.max_expenses = max_expenses
        # Changed longest ago first.
        self._expenses: OrderedDict[str, Mapping[str, Any]] = OrderedDict()
        self._final: OrderedDict[str, None] = OrderedDict()
        self._pending = 0
        self._approved = Totals()

    def apply(self, expense: Mapping[str, Any]) -> bool:
        """Follow a validated change; ``False`` for a retry (same status and amount)."""
        expense_id = str(expense["expenseId"])
        known = self._expenses.get(expense_id)
        if known is not None:
            if (known["status"], known["amount"], known["currency"]) == (
                    expense["status"], expense["amount"], expense["currency"]):
                return False
            self._count(known, -1)
        self._expenses[expense_id] = expense
        self._expenses.move_to_end(expense_id)
        self._final.pop(expense_id, None)
        if expense["status"] in _FINAL:
            self._final[expense_id] = None
        self._count(expense, +1)
        while len(self._expenses) > self.max_expenses:
            self._evict()
        return True

    def pending(self) -> int:
        """Expenses waiting for a decision (submitted or pending)."""
        return self._pending

    def approved_total(self) -> dict[str, float]:
        """Approved and paid amounts by currency."""
        return self._approved.as_dict()

    def recent(self, limit: int = 50) -> list[dict[str, Any]]:
        """The expenses changed last, newest change first."""
        out: list[dict[str, Any]] = []
        for expense_id in reversed(self._expenses):
            if len(out) >= limit:
                break
            out.append(dict(self._expenses[expense_id]))
        return out

    def __len__(self) -> int:
        return len(self._expenses)

    def _count(self, expense: Mapping[str, Any], sign: int) -> None:
        if expense["status"] in _WAITING:
            self._pending += sign
        elif expense["status"] in _APPROVED:
            if sign > 0:
                self._approved.add(expense["currency"], expense["amount"])
            else:
                self._approved.remove(expense["currency"], expense["amount"])

    def _evict(self) -> None:
        if self._final:
            expense_id, _ = self._final.popitem(last=False)
            del self._expenses[expense_id]
            return
        _, expense = self._expenses.popitem(last=False)
        self._count(expense, -1)
