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
        "at": "2026-09-21T14:13:20.500Z", "acknowledged": False, "state": "open", "count": 1,
        "lastSeen": "2026-09-21T14:13:20.500Z", "latitude": 25.2, "longitude": 55.3,
        "fenceId": "creek", "fenceName": "Creek"}
    book = AlertBook()
    book.raised(alert)
    acked = book.acknowledge(alert.id, "ops-1", T0 + 60)
    wire = acked.to_wire()
    assert (wire["acknowledged"], wire["acknowledgedBy"], wire["acknowledgedAt"],
            wire["state"]) == (True, "ops-1", "2026-09-21T14:14:20.000Z", "acknowledged")
    assert Alert.from_wire(wire) == acked
    resolved = book.resolve(alert.id, "ops-2", T0 + 120)
    wire = resolved.to_wire()
    assert (wire["state"], wire["resolvedBy"], wire["resolvedAt"], wire["acknowledgedBy"]) == (
        "resolved", "ops-2", "2026-09-21T14:15:20.000Z", "ops-1")
    assert Alert.from_wire(wire) == resolved


def test_an_alert_from_before_the_lifecycle_still_reads() -> None:
    old = {k: v for k, v in sos().to_wire().items()
           if k not in ("state", "count", "lastSeen")}
    assert Alert.from_wire(old) == sos()


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
    ({"state": "resolved"}, "state must match"),
    ({"count": 0}, "count must be a positive integer"),
    ({"count": True}, "count must be a positive integer"),
    ({"resolvedAt": "later"}, "not a valid ISO"),
    ({"resolvedBy": 1}, "resolvedBy must be a string"),
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
        book.raised(alert)
        alert = book.acknowledge(alert.id, *ack)
        alert = book.resolve(alert.id, ack[0], ack[1] + 1)
    assert Alert.from_wire(alert.to_wire()) == alert


# -- the book -----------------------------------------------------------------------------

def test_a_trigger_seen_twice_counts_once() -> None:
    book = AlertBook()
    assert book.raised(sos()) == sos()
    assert book.raised(sos()) is None
    assert len(book) == 1
    assert book.open_count() == 1


def test_a_repeat_updates_the_open_alert_of_its_rider_and_kind() -> None:
    book = AlertBook()
    first = sos(at=T0, cause="1")
    book.raised(first)
    repeat = book.raised(sos(at=T0 + 30, cause="2"))
    assert repeat is not None
    assert (repeat.id, repeat.count, repeat.seen, repeat.at) == (first.id, 2, T0 + 30, T0)
    assert repeat.last_trigger == sos(cause="2").id
    # Another rider, or another kind, is another alert.
    book.raised(sos(rider="r2", cause="3"))
    book.raised(new_alert("speeding", "r1", "fast", T0, "4"))
    assert len(book) == 3
    assert book.counts() == {"open": 3, "acknowledged": 0, "resolved": 0,
                             "critical": 2, "warning": 1, "info": 0}


def test_after_an_acknowledgement_a_new_trigger_opens_a_new_alert() -> None:
    book = AlertBook()
    first = sos(cause="1")
    book.raised(first)
    book.acknowledge(first.id, "ops-1", T0 + 5)
    again = book.raised(sos(at=T0 + 10, cause="2"))
    assert again is not None
    assert (again.id != first.id, again.state) == (True, "open")
    assert book.get(first.id).count == 1


def test_acknowledging_and_resolving_keep_the_first_step() -> None:
    book = AlertBook()
    alert = sos()
    book.raised(alert)
    first = book.acknowledge(alert.id, "ops-1", T0 + 10)
    assert (first.state, first.acknowledged_by, first.acknowledged_at) == (
        "acknowledged", "ops-1", T0 + 10)
    assert book.acknowledge(alert.id, "ops-2", T0 + 20) == first
    assert book.open_count() == 0
    done = book.resolve(alert.id, "ops-2", T0 + 30)
    assert (done.state, done.resolved_by, done.acknowledged_by) == ("resolved", "ops-2", "ops-1")
    assert book.resolve(alert.id, "ops-3", T0 + 40) == done
    assert book.acknowledge(alert.id, "ops-3", T0 + 40) == done
    assert book.counts()["critical"] == 0
    for change in (book.acknowledge, book.resolve):
        with pytest.raises(NotFound):
            change("al_nope", "ops-1", T0)


def test_a_rider_reporting_again_resolves_its_own_alerts_of_those_kinds() -> None:
    book = AlertBook()
    stale = new_alert("rider_stale", "r1", "quiet", T0, "s")
    offline = new_alert("rider_offline", "r1", "gone", T0 + 1, "o")
    for alert in (stale, offline, sos(), new_alert("rider_stale", "r2", "quiet", T0, "s")):
        book.raised(alert)
    book.acknowledge(offline.id, "ops", T0 + 2)
    ended = book.resolve_rider("r1", ("rider_stale", "rider_offline"), "system", T0 + 3)
    assert [(a.id, a.state, a.resolved_by) for a in ended] == [
        (stale.id, "resolved", "system"), (offline.id, "resolved", "system")]
    assert book.resolve_rider("r1", ("rider_stale",), "system", T0 + 4) == []
    assert book.get(sos().id).state == "open"
    assert book.counts()["info"] == 1       # r2's stale alert


def test_steps_from_elsewhere_converge_whatever_the_order() -> None:
    here, there = AlertBook(), AlertBook()
    alert = sos(cause="1")
    here.raised(alert)
    there.raised(alert)
    repeat = here.raised(sos(at=T0 + 2, cause="2"))
    mine = here.acknowledge(alert.id, "ops-1", T0 + 5)
    theirs = there.acknowledge(alert.id, "ops-2", T0 + 3)
    closed = there.resolve(alert.id, "ops-2", T0 + 6)
    assert repeat is not None
    for step in (closed, repeat, mine):
        there.apply(step)
    for step in (mine, closed, theirs, repeat):
        here.apply(step)
    assert here.get(alert.id) == there.get(alert.id)
    final = here.get(alert.id)
    assert (final.count, final.acknowledged_by, final.resolved_by) == (2, "ops-2", "ops-2")
    # The repeat's trigger, learnt from the wire, is not counted again here or there.
    assert there.raised(sos(at=T0 + 2, cause="2")) is None


def test_a_step_for_a_missed_alert_adds_it() -> None:
    source = AlertBook()
    source.raised(sos())
    acked = source.acknowledge(sos().id, "ops-1", T0 + 1)
    book = AlertBook()
    book.apply(acked)
    assert book.get(acked.id) == acked
    assert book.open_count() == 0


def test_recent_sorts_by_time_or_severity_and_filters() -> None:
    book = AlertBook()
    alerts = [sos(rider=f"r{n}", at=T0 + n, cause=str(n)) for n in (3, 1, 2, 0)]
    stale = new_alert("rider_stale", "r9", "quiet", T0 + 9, "s")
    speeding = new_alert("speeding", "r8", "fast", T0 + 8, "f")
    for alert in (*alerts, stale, speeding):
        book.raised(alert)
    book.acknowledge(alerts[0].id, "ops", T0 + 9)
    book.resolve(alerts[1].id, "ops", T0 + 9)
    assert [a.at for a in book.recent()] == [T0 + 9, T0 + 8, T0 + 3, T0 + 2, T0 + 1, T0]
    assert [a.at for a in book.recent(2)] == [T0 + 9, T0 + 8]
    assert [a.at for a in book.recent(open_only=True)] == [T0 + 9, T0 + 8, T0 + 2, T0]
    assert [a.kind for a in book.recent(by_severity=True)] == [
        "sos", "sos", "sos", "sos", "speeding", "rider_stale"]
    assert [a.at for a in book.recent(states=("acknowledged", "resolved"))] == [T0 + 3, T0 + 1]
    assert [a.id for a in book.recent(kinds=("rider_stale",))] == [stale.id]
    assert [a.id for a in book.recent(severities=("warning", "info"), by_severity=True)] == [
        speeding.id, stale.id]
    assert book.recent(0) == []


def test_past_the_cap_resolved_go_first_then_acknowledged_then_the_oldest_open() -> None:
    book = AlertBook(max_alerts=3)
    a, b, c, d, e, f = (sos(rider=f"r{n}", at=T0 + n, cause=str(n)) for n in range(6))
    for alert in (a, b, c):
        book.raised(alert)
    book.acknowledge(c.id, "ops", T0 + 10)
    book.resolve(b.id, "ops", T0 + 11)
    book.raised(d)      # b, resolved
    assert {x.id for x in book.recent()} == {a.id, c.id, d.id}
    book.raised(e)      # then c, acknowledged
    assert {x.id for x in book.recent()} == {a.id, d.id, e.id}
    book.raised(f)      # then the oldest open, a
    assert {x.id for x in book.recent()} == {d.id, e.id, f.id}
    assert book.counts() == {"open": 3, "acknowledged": 0, "resolved": 0,
                             "critical": 3, "warning": 0, "info": 0}
    with pytest.raises(ValueError, match="max_alerts"):
        AlertBook(max_alerts=0)


def test_one_rider_repeating_an_alert_holds_one_entry() -> None:
    # The bound a rider drives: pressing SOS over and over is one alert with a count, and
    # the triggers remembered stay within twice the cap.
    book = AlertBook(max_alerts=10)
    for n in range(1_000):
        book.raised(sos(at=T0 + n, cause=str(n)))
    assert len(book) == 1
    assert book.get(sos(cause="0").id).count == 1_000
    assert len(book._triggers) <= 20
