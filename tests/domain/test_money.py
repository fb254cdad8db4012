"""Money totals: exact under adding and taking back out, the home currency always shown."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from yellowbox_realtime.domain.money import Totals


def test_totals_are_exact_decimal_sums_by_currency() -> None:
    totals = Totals()
    assert totals.as_dict() == {"AED": 0.0}
    totals.add("AED", 0.1)
    totals.add("AED", 0.2)
    totals.add("USD", 5)
    assert totals.as_dict() == {"AED": 0.3, "USD": 5.0}
    totals.remove("USD", 5)
    totals.remove("AED", 0.1)
    assert totals.as_dict() == {"AED": 0.2}
    totals.add("AED", 1e-7)  # below a millionth: not money
    assert totals.as_dict() == {"AED": 0.2}


AMOUNTS = st.lists(st.tuples(st.sampled_from(["AED", "USD"]),
                             st.floats(0, 1e9, allow_nan=False)), max_size=30)


@given(AMOUNTS, AMOUNTS)
def test_taking_amounts_back_out_restores_the_total_exactly(
        kept: list[tuple[str, float]], passing: list[tuple[str, float]]) -> None:
    base, churned = Totals(), Totals()
    for currency, amount in kept:
        base.add(currency, amount)
        churned.add(currency, amount)
    for currency, amount in passing:
        churned.add(currency, amount)
    for currency, amount in reversed(passing):
        churned.remove(currency, amount)
    assert churned.as_dict() == base.as_dict()
