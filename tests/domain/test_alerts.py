"""Alerts: deterministic ids, the wire shape both ways, and the bounded book with acks."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from yellowbox_realtime.domain.alerts import (
    ALERT_KINDS,
    SEVERITY,
    Alert,
    AlertBook,
    AlertKind,
    alert_id,
    new_alert,
)
from yellowbox_realtime.errors import NotFound, ValidationError

T0 = 1_790_000_000.0


def sos(rider: str = "r1", at: float = T0, cause: str = "c") -> Alert:
    return new_alert("sos", rider, "SOS from r1", at, cause, latitude=25.2, longitude=55.3)


# -- ids ----------------------------------------------------------------------------------

def test_ids_are_the_same_for_the_same_event_and_differ_otherwise() -> None:
    first = alert_id("sos", "r1", "2026-09-21T12:00:00.000Z")
    assert first == alert_id("sos", "r1", "2026-09-21T12:00:00.000Z")
    assert first.startswith("al_")
    assert len(first) == 23
    assert int(first[3:], 16) >= 0
    others = {alert_id("speeding", "r1", "2026-09-21T12:00:00.000Z"),
              alert_id("sos", "r2", "2026-09-21T12:00:00.000Z"),
              alert_id("sos", "r1", "2026-09-21T12:00:01.000Z")}
    assert first not in others
    assert len(others) == 3


def test_ids_do_not_collide_when_parts_shift() -> None:
    assert alert_id("sos", "a", "b:c") != alert_id("sos", "a:b", "c")


@pytest.mark.parametrize(("kind", "severity"), [
    ("sos", "critical"), ("geofence_breach", "critical"), ("speeding", "warning"),
    ("rider_offline", "warning"), ("rider_stale", "info")])
def test_severity_follows_the_kind(kind: AlertKind, severity: str) -> None:
    assert SEVERITY[kind] == severity
    assert new_alert(kind, "r1", "m", T0, "c").severity == severity


# -- the wire -----------------------------------------------------------------------------

def test_the_wire_shape_is_camel_case_with_iso_times_and_details_beside() -> None:
    alert = new_alert("geofence_breach", "r1", "r1 entered Creek no-go", T0 + 0.5, "f@1",
                      latitude=25.2, longitude=55.3, fenceId="creek", fenceName="Creek",
                      speed=None)
    assert alert.to_wire() == {
        "id": alert_id("geofence_breach", "r1", "f@1"), "kind": "geofence_breach",
        "severity": "critical", "riderId": "r1", "message": "r1 entered Creek no-go",
        "at": "2026-09-21T14:13:20.500Z", "acknowledged": False,
        "latitude": 25.2, "longitude": 55.3, "fenceId": "creek", "fenceName": "Creek"}
    book = AlertBook()
    book.add(alert)
    acked = book.acknowledge(alert.id, "ops-1", T0 + 60)
    wire = acked.to_wire()
    assert (wire["acknowledged"], wire["acknowledgedBy"], wire["acknowledgedAt"]) == (
        True, "ops-1", "2026-09-21T14:14:20.000Z")
    assert Alert.from_wire(wire) == acked


def test_unknown_details_are_a_programming_error() -> None:
    with pytest.raises(ValueError, match="heading"):
        new_alert("sos", "r1", "m", T0, "c", heading=3)


@pytest.mark.parametrize(("change", "message"), [
    ({"kind": "fire"}, "kind must be one of"),
    ({"severity": "panic"}, "severity must be one of"),
    ({"riderId": 7}, "riderId must be a string"),
    ({"at": "noon"}, "not a valid ISO"),
    ({"at": None}, "at must be an ISO"),
    ({"latitude": "25"}, "latitude must be a finite number"),
    ({"speed": True}, "speed must be a finite number"),
    ({"fenceName": 3}, "fenceName must be a string"),
    ({"acknowledged": True}, "acknowledged must match"),
    ({"acknowledgedBy": 3}, "acknowledgedBy must be a string"),
    ({"colour": "red"}, "unknown alert field"),
])
def test_malformed_alerts_from_the_wire_are_refused(change: dict[str, Any],
                                                    message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Alert.from_wire({**sos().to_wire(), **change})
    with pytest.raises(ValidationError, match="object"):
        Alert.from_wire(["not", "an", "alert"])


WIRE_ALERTS = st.builds(
    lambda kind, rider, message, at, cause, lat, fence, acked: (
        new_alert(kind, rider, message, at, cause, latitude=lat, fenceId=fence), acked),
    st.sampled_from(ALERT_KINDS), st.text(max_size=20), st.text(max_size=50),
    st.floats(0, 4e9), st.text(max_size=10),
    st.none() | st.floats(-90, 90), st.none() | st.text(max_size=10),
    st.none() | st.tuples(st.text(max_size=10), st.floats(0, 4e9)))


@settings(max_examples=300, deadline=None)
@given(WIRE_ALERTS)
def test_an_alert_survives_the_wire(case: tuple[Alert, tuple[str, float] | None]) -> None:
    alert, ack = case
    if ack is not None:
        book = AlertBook()
        book.add(alert)
        alert = book.acknowledge(alert.id, *ack)
    assert Alert.from_wire(alert.to_wire()) == alert


# -- the book -----------------------------------------------------------------------------

def test_adding_is_idempotent_by_id() -> None:
    book = AlertBook()
    assert book.add(sos()) is True
    assert book.add(sos()) is False
    assert len(book) == 1
    assert book.open_count() == 1


def test_acknowledging_keeps_the_first_acknowledgement() -> None:
    book = AlertBook()
    alert = sos()
    book.add(alert)
    first = book.acknowledge(alert.id, "ops-1", T0 + 10)
    assert first.acknowledged
    assert (first.acknowledged_by, first.acknowledged_at) == ("ops-1", T0 + 10)
    assert book.acknowledge(alert.id, "ops-2", T0 + 20) == first
    assert book.get(alert.id) == first
    assert book.open_count() == 0
    with pytest.raises(NotFound):
        book.acknowledge("al_nope", "ops-1", T0)
    with pytest.raises(NotFound):
        book.get("al_nope")


def test_acknowledgements_from_elsewhere_converge_on_the_earliest() -> None:
    here, there = AlertBook(), AlertBook()
    alert = sos()
    here.add(alert)
    there.add(alert)
    mine = here.acknowledge(alert.id, "ops-1", T0 + 5)
    theirs = there.acknowledge(alert.id, "ops-2", T0 + 3)
    here.apply_acknowledged(theirs)
    there.apply_acknowledged(mine)
    assert here.get(alert.id) == there.get(alert.id) == theirs
    assert here.open_count() == there.open_count() == 0


def test_an_acknowledgement_for_a_missed_alert_adds_it() -> None:
    source = AlertBook()
    source.add(sos())
    acked = source.acknowledge(sos().id, "ops-1", T0 + 1)
    book = AlertBook()
    book.apply_acknowledged(acked)
    assert book.get(acked.id) == acked
    assert book.open_count() == 0
    with pytest.raises(ValidationError, match="acknowledgedAt"):
        book.apply_acknowledged(sos(cause="other"))


def test_recent_is_newest_first_and_can_show_only_open_alerts() -> None:
    book = AlertBook()
    alerts = [sos(at=T0 + n, cause=str(n)) for n in (3, 1, 2, 0)]
    for alert in alerts:
        book.add(alert)
    book.acknowledge(alerts[0].id, "ops", T0 + 9)
    assert [a.at for a in book.recent()] == [T0 + 3, T0 + 2, T0 + 1, T0]
    assert [a.at for a in book.recent(2)] == [T0 + 3, T0 + 2]
    assert [a.at for a in book.recent(open_only=True)] == [T0 + 2, T0 + 1, T0]
    assert book.recent(0) == []


def test_past_the_cap_acknowledged_alerts_go_first_then_the_oldest() -> None:
    book = AlertBook(max_alerts=3)
    a, b, c, d, e = (sos(at=T0 + n, cause=str(n)) for n in range(5))
    for alert in (a, b, c):
        book.add(alert)
    book.acknowledge(c.id, "ops", T0 + 10)
    book.acknowledge(b.id, "ops", T0 + 11)
    book.add(d)      # c was acknowledged longest ago
    assert {x.at for x in book.recent()} == {a.at, b.at, d.at}
    book.add(e)      # then b
    assert {x.at for x in book.recent()} == {a.at, d.at, e.at}
    book.add(sos(at=T0 + 5, cause="5"))  # none acknowledged: the oldest open, a
    assert {x.at for x in book.recent()} == {d.at, e.at, T0 + 5}
    assert book.open_count() == 3
    with pytest.raises(ValueError, match="max_alerts"):
        AlertBook(max_alerts=0)
