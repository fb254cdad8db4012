"""The router: domain events are checked by their domain whatever door they come in by,
and everything else passes through untouched."""

from __future__ import annotations

from typing import Any

import pytest

from yellowbox_realtime.core.broker import MemoryBroker
from yellowbox_realtime.core.history import HistoryLimits
from yellowbox_realtime.core.hub import Hub, Outgoing
from yellowbox_realtime.core.router import Router
from yellowbox_realtime.errors import ValidationError
from yellowbox_realtime.messages import StreamPosition


def needs_amount(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict) or "amount" not in data:
        raise ValidationError("expense needs amount")
    return {**data, "checked": True}


def router() -> tuple[Router, MemoryBroker]:
    broker = MemoryBroker(Hub(), HistoryLimits(10, 60.0))
    routed = Router(broker)
    routed.check("expense_updates", "expense_status_change", needs_amount)
    return routed, broker


async def test_a_domain_event_is_checked_and_published_as_its_domain_returns_it() -> None:
    routed, broker = router()
    message = Outgoing("expense_status_change", ({"expenseId": "e-9", "amount": 1},))
    position = await routed.publish(["expense_updates"], message)
    [entry] = (await broker.since(["expense_updates"],
                                  StreamPosition(position.epoch, 0))).entries
    assert entry.args == ({"expenseId": "e-9", "amount": 1, "checked": True},)


@pytest.mark.parametrize("args", [({"expenseId": "e-9"},), (), ({"amount": 1}, "extra")])
async def test_a_domain_event_that_fails_its_check_is_not_published(args: tuple[Any, ...]
                                                                     ) -> None:
    routed, broker = router()
    with pytest.raises(ValidationError):
        await routed.publish(["expense_updates"], Outgoing("expense_status_change", args))
    with pytest.raises(ValidationError):
        routed.publish_nowait(["other", "expense_updates"],
                              Outgoing("expense_status_change", args))
    assert broker.published == 0


async def test_other_events_and_channels_pass_untouched() -> None:
    routed, broker = router()
    note = Outgoing("expense_note", ({"expenseId": "e-9"},))
    await routed.publish(["expense_updates"], note)
    elsewhere = Outgoing("expense_status_change", ({"expenseId": "e-9"},))
    routed.publish_nowait(["dashboard"], elsewhere)
    assert note.args == ({"expenseId": "e-9"},)
    assert elsewhere.args == ({"expenseId": "e-9"},)
    assert broker.published == 2
