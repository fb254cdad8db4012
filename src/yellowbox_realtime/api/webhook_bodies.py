"""What the inbound webhooks accept, and what each body becomes (pure).

``n8n`` (``POST /api/v1/webhooks/n8n``): ``{id, event, channel, data}``, an event to publish
on a channel, checked as the publish API checks one (event name, reserved names, channel
name, size). The domain's own events, ``expense_status_change`` and
``order_status_change``, are accepted on their channels only (``expense_updates``,
``orders``), where the domain checks them as it checks every door's (422) and keeps the
counts.

``firebase`` (``POST /api/v1/webhooks/firebase``): ``{id, type, change, data: {documentId,
document}, occurredAt}`` as ``docs/firebase/forward-firestore-changes.ts`` sends it. A
Firestore document is mapped onto the domain's fields (other fields are left out):

=========  ========================  ==================================================
type       becomes                   fields
=========  ========================  ==================================================
expense    ``expense_status_change`` expenseId = documentId; status, amount, currency,
                                     description; riderId = ``riderId``, or the last
                                     segment of a ``rider`` reference (``riders/<id>``)
order      ``order_status_change``   orderId = documentId; status, amount, currency;
                                     riderId as for expenses
rider      ``rider_profile_change``  on channel ``riders``: ``{riderId: documentId,
                                     change, profile: document, occurredAt}``
=========  ========================  ==================================================

Deletes: a deleted expense or order is published as ``expense_deleted`` ``{expenseId,
occurredAt}`` on ``expense_updates`` (``order_deleted`` ``{orderId, occurredAt}`` on
``orders``), so screens can drop it; the ledgers do not change, because deleting a document
is record keeping, not a decision (withdrawing an expense is setting it ``rejected``, which
the counts follow). A deleted rider is a ``rider_profile_change`` with ``change: "deleted"``
and ``profile: null``: the profile of someone removed is not broadcast again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..domain import fields
from ..errors import BadRequest, ValidationError
from ..operations import EXPENSE_EVENT, EXPENSE_UPDATES, ORDER_EVENT, ORDERS, RIDERS
from .validation import check_channel, check_event, encode_data

__all__ = ["RIDERS", "RIDER_PROFILE_EVENT", "Inbound", "Publish",
           "parse_firebase", "parse_n8n"]

RIDER_PROFILE_EVENT = "rider_profile_change"
EXPENSE_DELETED = "expense_deleted"
ORDER_DELETED = "order_deleted"

# An event id becomes part of an idempotency key: printable ASCII, like Idempotency-Key.
_EVENT_ID = re.compile(r"[\x21-\x7e]{1,255}")
_DOMAIN_CHANNELS = {EXPENSE_EVENT: EXPENSE_UPDATES, ORDER_EVENT: ORDERS}
_TYPES = ("expense", "rider", "order")
_CHANGES = ("created", "updated", "deleted")


@dataclass(frozen=True, slots=True)
class Publish:
    """Publish ``event`` with ``data`` to ``channel`` as it is."""

    channel: str
    event: str
    data: Any


@dataclass(frozen=True, slots=True)
class Inbound:
    id: str
    action: Publish


def parse_n8n(document: Any, max_payload: int) -> Inbound:
    body = _object(document, "the body", ("id", "event", "channel", "data"), ())
    event_id = _event_id(body["id"])
    event = check_event(body["event"])
    channel = _channel(body["channel"])
    data = body["data"]
    encode_data(data, max_payload)
    if event in (EXPENSE_EVENT, ORDER_EVENT):
        expected = _DOMAIN_CHANNELS[event]
        if channel != expected:
            raise ValidationError(f"channel: {event} belongs on {expected}, got {channel!r}")
        if not isinstance(data, dict):
            raise ValidationError(f"data: {event} needs an object")
    return Inbound(event_id, Publish(channel, event, data))


def parse_firebase(document: Any, max_payload: int) -> Inbound:
    body = _object(document, "the body", ("id", "type", "change", "data", "occurredAt"), ())
    event_id = _event_id(body["id"])
    kind = fields.status(body["type"], _TYPES, "type")
    change = fields.status(body["change"], _CHANGES, "change")
    occurred_at = _time(body["occurredAt"])
    data = _object(body["data"], "data", ("documentId", "document"), ())
    document_id = fields.record_id(data["documentId"], "data.documentId")
    fields_ = data["document"]
    if not isinstance(fields_, dict):
        raise ValidationError("data.document: must be an object (the document's fields)")
    encode_data(fields_, max_payload)
    if kind == "rider":
        profile = None if change == "deleted" else fields_
        return Inbound(event_id, Publish(RIDERS, RIDER_PROFILE_EVENT, {
            "riderId": document_id, "change": change, "profile": profile,
            "occurredAt": occurred_at}))
    if change == "deleted":
        if kind == "expense":
            return Inbound(event_id, Publish(EXPENSE_UPDATES, EXPENSE_DELETED, {
                "expenseId": document_id, "occurredAt": occurred_at}))
        return Inbound(event_id, Publish(ORDERS, ORDER_DELETED, {
            "orderId": document_id, "occurredAt": occurred_at}))
    if kind == "expense":
        mapped = {"expenseId": document_id,
                  **_pick(fields_, "status", "amount", "currency", "description")}
        return Inbound(event_id, Publish(EXPENSE_UPDATES, EXPENSE_EVENT,
                                         _with_rider(mapped, fields_)))
    mapped = {"orderId": document_id, **_pick(fields_, "status", "amount", "currency")}
    return Inbound(event_id, Publish(ORDERS, ORDER_EVENT, _with_rider(mapped, fields_)))


def _object(value: Any, what: str, required: tuple[str, ...],
            optional: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValidationError(f"{what} must be a JSON object with {', '.join(required)}")
    unknown = sorted(set(value) - set(required) - set(optional))
    if unknown:
        raise ValidationError(f"{what}: unknown field(s) {', '.join(map(repr, unknown))}")
    missing = [name for name in required if name not in value]
    if missing:
        raise ValidationError(f"{what}: missing {', '.join(missing)}")
    return value


def _event_id(value: Any) -> str:
    if not isinstance(value, str) or not _EVENT_ID.fullmatch(value):
        raise ValidationError("id: 1-255 printable ASCII characters without spaces (the "
                              "event's id; a retry must send the same one)")
    return value


def _channel(value: Any) -> str:
    if not isinstance(value, str):
        raise ValidationError("channel: must be a string")
    try:
        return check_channel(value)
    except BadRequest as exc:
        # In a path it is the request's form (400); in a body, the body's content (422).
        raise ValidationError(f"channel: {exc.message}") from exc


def _time(value: Any) -> str:
    if isinstance(value, str):
        try:
            datetime.fromisoformat(value)
            return value
        except ValueError:
            pass
    raise ValidationError("occurredAt: must be an ISO 8601 time, e.g. 2026-01-01T08:30:00.000Z")


def _pick(document: dict[str, Any], *names: str) -> dict[str, Any]:
    return {name: document[name] for name in names if document.get(name) is not None}


def _with_rider(mapped: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    rider = document.get("riderId")
    if rider is None and isinstance(document.get("rider"), str):
        # A Firestore reference arrives as its path, "riders/<id>".
        rider = document["rider"].rstrip("/").rpartition("/")[2] or None
    if rider is not None:
        mapped["riderId"] = rider
    return mapped
