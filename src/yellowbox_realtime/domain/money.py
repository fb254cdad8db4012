"""Running totals of money by currency, exact under adding and taking back out (pure).

Floats drift when the same amounts are added and subtracted again (0.1 + 0.2 - 0.1 is not
0.2), and a total kept running for days sees millions of such steps. Amounts are kept as
whole millionths of a unit (every currency has at most three decimals, so this loses
nothing real), from the decimal of the float's shortest repr (what the sender wrote);
integer sums are exact, so taking an amount back out restores the total exactly.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

from .fields import DEFAULT_CURRENCY

__all__ = ["MICROS", "Totals", "to_micros"]

MICROS = 1_000_000


def to_micros(amount: float) -> int:
    return int((Decimal(repr(amount)) * MICROS).to_integral_value(ROUND_HALF_EVEN))


class Totals:
    def __init__(self) -> None:
        self._micros: dict[str, int] = {}

    def add(self, currency: str, amount: float) -> None:
        self._micros[currency] = self._micros.get(currency, 0) + to_micros(amount)

    def remove(self, currency: str, amount: float) -> None:
        left = self._micros.get(currency, 0) - to_micros(amount)
        if left:
            self._micros[currency] = left
        else:
            self._micros.pop(currency, None)

    def as_dict(self) -> dict[str, float]:
        """By currency, those not zero; the home currency always, so a dashboard shows 0."""
        totals = {DEFAULT_CURRENCY: 0.0}
        totals.update((code, micros / MICROS) for code, micros in sorted(self._micros.items())
                      if micros)
        return totals
