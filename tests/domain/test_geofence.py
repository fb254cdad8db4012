"""Geofences: containment at edges and vertices, pass-throughs, event order, validation."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from yellowbox_realtime.domain.geo import EARTH_RADIUS_M, LatLon, LocalFrame
from yellowbox_realtime.domain.geofence import (
    MAX_VERTICES,
    Circle,
    Fence,
    FenceKind,
    GeofenceEvent,
    GeofenceSet,
    Polygon,
)
from yellowbox_realtime.errors import NotFound, ValidationError

# Dubai does not reach the antimeridian (it is at 55 E), so no case here crosses it: the
# fence validation caps a fence's size well below what would be needed to.
# About 1.1 m of latitude; longitude degrees are about 10 % shorter here.
M = 1e-5


def p(latitude: float, longitude: float) -> LatLon:
    return LatLon(latitude, longitude)


def polygon(fence_id: str, *vertices: tuple[float, float], kind: FenceKind = "zone") -> Fence:
    return Fence(fence_id, fence_id.title(), kind, Polygon(tuple(p(*v) for v in vertices)))


def circle(fence_id: str, centre: LatLon, radius_m: float) -> Fence:
    return Fence(fence_id, fence_id.title(), "zone", Circle(centre, radius_m))


def destination(start: LatLon, bearing_deg: float, distance_m: float) -> LatLon:
    """The point ``distance_m`` along the great circle leaving ``start`` at ``bearing_deg``."""
    phi, lam = math.radians(start.latitude), math.radians(start.longitude)
    theta, delta = math.radians(bearing_deg), distance_m / EARTH_RADIUS_M
    phi2 = math.asin(math.sin(phi) * math.cos(delta)
                     + math.cos(phi) * math.sin(delta) * math.cos(theta))
    lam2 = lam + math.atan2(math.sin(theta) * math.sin(delta) * math.cos(phi),
                            math.cos(delta) - math.sin(phi) * math.sin(phi2))
    return LatLon(math.degrees(phi2), math.degrees(lam2))


def contains(fence: Fence, point: LatLon) -> bool:
    """Through the public API: a first position inside a fence enters it."""
    events = GeofenceSet([fence]).move("r", None, point, 0.0)
    assert [e.kind for e in events] in ([], ["enter"])
    return bool(events)


def kinds(events: list[GeofenceEvent]) -> list[tuple[str, str]]:
    return [(e.fence_id, e.kind) for e in events]


# A 0.01-degree square near Dubai Marina (about 1.1 km by 1 km).
SQUARE = ((25.07, 55.13), (25.07, 55.14), (25.08, 55.14), (25.08, 55.13))
# A U opening north: arms at the west and east, the bay between 55.123 and 55.127 down to 25.023.
U = ((25.02, 55.12), (25.02, 55.13), (25.03, 55.13), (25.03, 55.127), (25.023, 55.127),
     (25.023, 55.123), (25.03, 55.123), (25.03, 55.12))


@pytest.mark.parametrize("winding", ["counter-clockwise", "clockwise"])
@pytest.mark.parametrize(("vertices", "point", "inside"), [
    (SQUARE, (25.075, 55.135), True),                  # centre
    (SQUARE, (25.09, 55.135), False),                  # north of it
    (SQUARE, (25.07, 55.135), True),                   # on the south edge
    (SQUARE, (25.075, 55.14), True),                   # on the east edge
    (SQUARE, (25.08, 55.13), True),                    # on the north-west vertex
    (SQUARE, (25.07, 55.14), True),                    # on the south-east vertex
    (SQUARE, (25.07 - M, 55.135), False),              # a metre south of the south edge
    (SQUARE, (25.075, 55.14 + M), False),              # a metre east of the east edge
    (SQUARE, (25.08 + M, 55.13 - M), False),           # just off the north-west vertex
    (SQUARE, (25.075, 55.12), False),                  # level with the middle, to the west
    (SQUARE, (25.08, 55.12), False),                   # level with the top edge, to the west
    (U, (25.025, 55.121), True),                       # west arm
    (U, (25.025, 55.129), True),                       # east arm
    (U, (25.021, 55.125), True),                       # the base under the bay
    (U, (25.027, 55.125), False),                      # in the bay
    (U, (25.023, 55.125), True),                       # on the bay's floor
    (U, (25.027, 55.123), True),                       # on the bay's west wall
    (U, (25.023, 55.127), True),                       # on the bay's inner corner
    (U, (25.03, 55.125), False),                       # the bay's mouth, between two vertices
    (U, (25.023, 55.131), False),                      # east of the U, level with the floor
])
def test_polygon_containment_counts_the_boundary_as_inside(
        vertices: tuple[tuple[float, float], ...], point: tuple[float, float], inside: bool,
        winding: str) -> None:
    ring = vertices if winding == "counter-clockwise" else tuple(reversed(vertices))
    assert contains(polygon("f", *ring), p(*point)) is inside


MARINA = p(25.08, 55.14)


@pytest.mark.parametrize("bearing", [0.0, 37.0, 90.0, 145.0, 180.0, 230.0, 270.0, 315.0])
@pytest.mark.parametrize(("distance", "inside"), [
    (0.0, True), (499.0, True), (499.99, True), (500.01, False), (501.0, False)])
def test_a_circle_holds_the_points_within_its_radius_on_the_sphere(
        bearing: float, distance: float, inside: bool) -> None:
    assert contains(circle("c", MARINA, 500.0), destination(MARINA, bearing, distance)) \
        is inside


@pytest.mark.parametrize(("start", "end", "expected"), [
    # Straight across, west to east, both ends outside: a pass-through.
    ((25.075, 55.12), (25.075, 55.15), ["enter", "exit"]),
    # Diagonally across, corner to corner beyond it.
    ((25.06, 55.12), (25.09, 55.15), ["enter", "exit"]),
    # Past the north-west corner, two metres outside it.
    ((25.07 + 2 * M, 55.12), (25.09 + 2 * M, 55.14), []),
    # Through the north-west corner exactly: touching the boundary is a visit.
    ((25.07, 55.12), (25.09, 55.14), ["enter", "exit"]),
    # Along the south edge, from outside to outside.
    ((25.07, 55.12), (25.07, 55.15), ["enter", "exit"]),
    # Ending on the edge: inside.
    ((25.075, 55.12), (25.075, 55.13), ["enter"]),
    # From the edge outwards.
    ((25.075, 55.13), (25.075, 55.12), ["exit"]),
    # Inside to inside.
    ((25.072, 55.132), (25.078, 55.138), []),
])
def test_jumps_across_a_polygon(start: tuple[float, float], end: tuple[float, float],
                                expected: list[str]) -> None:
    fences = GeofenceSet([polygon("sq", *SQUARE)])
    fences.move("r", None, p(*start), 0.0)
    assert [e.kind for e in fences.move("r", p(*start), p(*end), 1.0)] == expected


def test_crossing_a_concave_polygons_bay_leaves_and_comes_back() -> None:
    fences = GeofenceSet([polygon("u", *U)])
    assert kinds(fences.move("r", None, p(25.027, 55.121), 0.0)) == [("u", "enter")]
    events = fences.move("r", p(25.027, 55.121), p(25.027, 55.129), 1.0)
    assert kinds(events) == [("u", "exit"), ("u", "enter")]
    assert fences.inside("r") == {"u"}


@pytest.mark.parametrize(("miss_m", "expected"), [(-1.0, ["enter", "exit"]), (1.0, [])])
def test_a_jump_past_a_circle_visits_it_only_if_it_comes_within_the_radius(
        miss_m: float, expected: list[str]) -> None:
    # A path due east whose closest approach is due north of the centre.
    closest = destination(MARINA, 0.0, 500.0 + miss_m)
    # Along the parallel: the point of it nearest the centre is the one due north.
    start = LatLon(closest.latitude, closest.longitude - 0.02)
    end = LatLon(closest.latitude, closest.longitude + 0.02)
    fences = GeofenceSet([circle("c", MARINA, 500.0)])
    fences.move("r", None, start, 0.0)
    assert [e.kind for e in fences.move("r", start, end, 1.0)] == expected
    assert fences.inside("r") == frozenset()


def test_overlapping_fences_report_in_the_order_the_path_meets_them() -> None:
    west = polygon("west", (25.0, 55.0), (25.0, 55.02), (25.01, 55.02), (25.01, 55.0))
    east = polygon("east", (25.0, 55.01), (25.0, 55.03), (25.01, 55.03), (25.01, 55.01))
    ring = circle("ring", p(25.005, 55.015), 200.0)
    fences = GeofenceSet([east, ring, west])
    there, back = p(25.005, 54.99), p(25.005, 55.04)
    fences.move("r", None, there, 0.0)
    assert kinds(fences.move("r", there, back, 1.0)) == [
        ("west", "enter"), ("east", "enter"), ("ring", "enter"), ("ring", "exit"),
        ("west", "exit"), ("east", "exit")]
    assert kinds(fences.move("r", back, there, 2.0)) == [
        ("east", "enter"), ("west", "enter"), ("ring", "enter"), ("ring", "exit"),
        ("east", "exit"), ("west", "exit")]


def test_across_a_shared_edge_the_rider_enters_the_next_fence_before_leaving_the_last() -> None:
    west = polygon("west", (25.0, 55.0), (25.0, 55.01), (25.01, 55.01), (25.01, 55.0))
    east = polygon("east", (25.0, 55.01), (25.0, 55.02), (25.01, 55.02), (25.01, 55.01))
    fences = GeofenceSet([west, east])
    start, end = p(25.005, 55.005), p(25.005, 55.015)
    assert kinds(fences.move("r", None, start, 0.0)) == [("west", "enter")]
    assert kinds(fences.move("r", start, end, 1.0)) == [("east", "enter"), ("west", "exit")]
    # Standing on the shared edge is being in both.
    edge = p(25.005, 55.01)
    assert kinds(fences.move("r", end, edge, 2.0)) == [("west", "enter")]
    assert fences.inside("r") == {"west", "east"}


def test_events_carry_the_rider_and_the_time_of_the_update() -> None:
    fences = GeofenceSet([polygon("sq", *SQUARE, kind="no_go")])
    assert fences.move("r7", None, p(25.075, 55.135), 12.5) == [
        GeofenceEvent("r7", "sq", "enter", 12.5)]
    assert fences.move("r7", p(25.075, 55.135), p(25.076, 55.136), 13.0) == []


def test_riders_outside_every_fence_are_not_remembered_and_can_be_forgotten() -> None:
    fences = GeofenceSet([polygon("sq", *SQUARE)])
    for n in range(100):
        fences.move(f"out{n}", None, p(24.9, 55.0 + n * 1e-4), 0.0)
    fences.move("in", None, p(25.075, 55.135), 0.0)
    assert fences.riders() == 1
    fences.forget("in")
    assert fences.riders() == 0
    assert fences.inside("in") == frozenset()
    # Forgotten, it is new again: its next position enters.
    assert kinds(fences.move("in", None, p(25.075, 55.135), 1.0)) == [("sq", "enter")]


def test_adding_replacing_and_removing_fences() -> None:
    fences = GeofenceSet()
    first = polygon("sq", *SQUARE)
    fences.add(first)
    with pytest.raises(ValidationError, match="'sq' already exists"):
        fences.add(first)
    with pytest.raises(NotFound, match="'other'"):
        fences.replace(polygon("other", *SQUARE))
    with pytest.raises(NotFound, match="'other'"):
        fences.remove("other")
    here = p(25.075, 55.135)
    fences.move("r", None, here, 0.0)
    # Moved away from under the rider: its next update, even standing still, leaves it.
    fences.replace(polygon("sq", (24.0, 55.0), (24.0, 55.01), (24.01, 55.01)))
    assert fences.get("sq").shape != first.shape
    assert kinds(fences.move("r", here, here, 1.0)) == [("sq", "exit")]
    fences.replace(first)
    assert kinds(fences.move("r", here, here, 2.0)) == [("sq", "enter")]
    fences.add(circle("c", here, 100.0))
    assert [f.id for f in fences.fences()] == ["sq", "c"]
    assert kinds(fences.move("r", here, here, 3.0)) == [("c", "enter")]
    assert fences.remove("sq") == first
    assert fences.inside("r") == {"c"}
    assert len(fences) == 1
    assert "c" in fences
    assert "sq" not in fences


def test_the_prefilter_still_sees_a_rider_leave_from_far_away() -> None:
    fences = GeofenceSet([polygon("sq", *SQUARE), circle("c", MARINA, 300.0)])
    fences.move("r", None, MARINA, 0.0)
    assert fences.inside("r") == {"sq", "c"}
    far, farther = p(24.5, 54.5), p(24.4, 54.4)
    assert kinds(fences.move("r", far, farther, 1.0)) == [("sq", "exit"), ("c", "exit")]


@pytest.mark.parametrize(("build", "message"), [
    (lambda: circle("c", p(91.0, 55.0), 10), r"'c': circle.latitude must be between -85"),
    (lambda: circle("c", p(25.0, 181.0), 10), r"'c': circle.longitude must be between -180"),
    (lambda: circle("c", p(math.nan, 55.0), 10), r"'c': circle.latitude must be a number"),
    (lambda: circle("c", p(True, 55.0), 10), r"'c': circle.latitude must be a number"),
    (lambda: circle("c", MARINA, 0), r"'c': circle.radius must be positive"),
    (lambda: circle("c", MARINA, -5), r"'c': circle.radius must be positive"),
    (lambda: circle("c", MARINA, math.inf), r"'c': circle.radius must be a number"),
    (lambda: circle("c", MARINA, 60_000), r"'c': circle.radius must be at most 50000"),
    (lambda: polygon("p", (25.0, 55.0), (25.01, 55.0)), r"'p': polygon must have 3 to 200"),
    (lambda: polygon("p", *[(25.0 + 0.001 * math.sin(a / 40), 55.0 + 0.001 * math.cos(a / 40))
                            for a in range(MAX_VERTICES + 1)]),
     r"'p': polygon must have 3 to 200 vertices, got 201"),
    (lambda: polygon("p", (25.0, 55.0), (25.01, 55.0), (25.02, 55.0)),
     r"'p': polygon is degenerate"),
    (lambda: polygon("p", (25.01, 55.01), (25.0, 55.0), (25.02, 55.02), (25.015, 55.015)),
     r"'p': polygon is degenerate"),
    (lambda: polygon("p", (25.0, 55.0), (25.01, 55.01), (25.0, 55.01), (25.01, 55.0)),
     r"'p': polygon intersects itself: the edge from polygon\[0\] meets the edge from "
     r"polygon\[2\]"),
    # A figure eight whose loops touch at one vertex.
    (lambda: polygon("p", (25.0, 55.0), (25.01, 55.01), (25.02, 55.0), (25.02, 55.02),
                     (25.01, 55.01), (25.0, 55.02)), r"'p': polygon intersects itself"),
    (lambda: polygon("p", (25.0, 55.0), (25.0, 55.01), (25.0, 55.01), (25.01, 55.0)),
     r"'p': polygon\[2\] repeats polygon\[1\]"),
    (lambda: polygon("p", (25.0, 55.0), (25.0, 55.01), (25.01, 55.0), (25.0, 55.0)),
     r"'p': polygon\[3\] repeats polygon\[0\] \(leave the ring open\)"),
    # A spike: out along an edge and back.
    (lambda: polygon("p", (25.0, 55.0), (25.0, 55.02), (25.0, 55.01), (25.01, 55.0)),
     r"'p': polygon folds back on itself at polygon\[1\]"),
    (lambda: polygon("p", (25.0, 55.0), (25.0, 56.0), (25.5, 56.0)),
     r"'p': polygon must fit in 100 km"),
    (lambda: polygon("p", (25.0, 55.0), (25.0, 55.01), (91.0, 55.0)),
     r"'p': polygon\[2\].latitude must be between"),
    (lambda: Fence("x", "X", "hub", Circle(MARINA, 10)),  # type: ignore[arg-type]
     r"'x': kind must be one of zone, depot, no_go, got 'hub'"),
    (lambda: Fence("x", "  ", "zone", Circle(MARINA, 10)), r"'x': name must be a non-empty"),
    (lambda: Fence("x", "X" * 201, "zone", Circle(MARINA, 10)), r"'x': name must be at most"),
    (lambda: Fence("has space", "X", "zone", Circle(MARINA, 10)), r"'has space': id must be"),
    (lambda: Fence("", "X", "zone", Circle(MARINA, 10)), r"'': id must be"),
])
def test_bad_fences_are_refused_naming_the_fence_and_the_field(
        build: Callable[[], Fence], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        build()


# Properties. Points are drawn in a box around Dubai, fences of city size.
DUBAI = st.builds(LatLon, st.floats(24.9, 25.4), st.floats(54.9, 55.6))


@st.composite
def star_around(draw: st.DrawFn, centre: LatLon, convex: bool = False) -> Fence:
    """A polygon with ``centre`` strictly inside and seeing every vertex (star-shaped):
    vertices at increasing angles in the local frame (straight lines there are straight in
    latitude/longitude), no gap of 180 degrees. With one distance for all, it is convex."""
    n = draw(st.integers(3, 16))
    radius = draw(st.floats(20.0, 5000.0))
    step = 2 * math.pi / n
    turn = draw(st.floats(0.0, step))
    jitter = [draw(st.floats(-0.2 * step, 0.2 * step)) for _ in range(n)]
    reach = [1.0 if convex else draw(st.floats(0.3, 1.0)) for _ in range(n)]
    frame = LocalFrame(centre)
    vertices = tuple(frame.to_latlon((radius * r * math.cos(a), radius * r * math.sin(a)))
                     for a, r in ((turn + i * step + jitter[i], reach[i]) for i in range(n)))
    return Fence("star", "Star", "zone", Polygon(vertices))


@settings(max_examples=200, deadline=None)
@given(st.data(), DUBAI, st.floats(0.0, 0.99))
def test_a_point_strictly_inside_a_convex_polygon_built_around_it_is_inside(
        data: st.DataObject, centre: LatLon, towards: float) -> None:
    fence = data.draw(star_around(centre, convex=True))
    assert contains(fence, centre)
    # Anywhere on the way from the centre to a vertex, short of it, is inside too.
    assert isinstance(fence.shape, Polygon)
    vertex = data.draw(st.sampled_from(fence.shape.vertices))
    between = LatLon(centre.latitude + towards * (vertex.latitude - centre.latitude),
                     centre.longitude + towards * (vertex.longitude - centre.longitude))
    assert contains(fence, between)


@st.composite
def some_fences(draw: st.DrawFn) -> list[Fence]:
    fences = []
    for n in range(draw(st.integers(1, 5))):
        centre = draw(st.builds(LatLon, st.floats(25.0, 25.1), st.floats(55.1, 55.2)))
        if draw(st.booleans()):
            fences.append(circle(f"c{n}", centre, draw(st.floats(10.0, 3000.0))))
        else:
            star = draw(star_around(centre))
            fences.append(Fence(f"p{n}", "P", "zone", star.shape))
    return fences


AROUND = st.builds(LatLon, st.floats(24.98, 25.12), st.floats(55.08, 55.22))


@settings(max_examples=200, deadline=None)
@given(some_fences(), st.lists(AROUND, min_size=1, max_size=8))
def test_going_somewhere_and_coming_back_balances_enters_and_exits(
        fences: list[Fence], path: list[LatLon]) -> None:
    geofences = GeofenceSet(fences)
    geofences.move("r", None, path[0], 0.0)
    before = geofences.inside("r")
    events: list[GeofenceEvent] = []
    route = [*path, path[0]]
    for n, (a, b) in enumerate(pairwise(route)):
        events += geofences.move("r", a, b, float(n + 1))
        # What is remembered is where the rider is now, as a newcomer there would find.
        assert geofences.inside("r") == {
            e.fence_id for e in GeofenceSet(fences).move("r", None, b, 0.0)}
    assert geofences.inside("r") == before
    counts = Counter((e.fence_id, e.kind) for e in events)
    for fence in fences:
        assert counts[fence.id, "enter"] == counts[fence.id, "exit"]
        # Per fence, enters and exits alternate, starting from where the rider was.
        own = [e.kind for e in events if e.fence_id == fence.id]
        expected = ["exit", "enter"] if fence.id in before else ["enter", "exit"]
        assert own == (expected * len(own))[: len(own)]


@settings(max_examples=200, deadline=None)
@given(st.data(), DUBAI, st.floats(0.0, 2 * math.pi), st.floats(1.05, 20.0))
def test_a_straight_path_through_a_fence_from_outside_enters_then_leaves(
        data: st.DataObject, centre: LatLon, heading: float, reach: float) -> None:
    if data.draw(st.booleans()):
        radius = data.draw(st.floats(10.0, 5000.0))
        fence = circle("c", centre, radius)
    else:
        fence = data.draw(star_around(centre))
        assert isinstance(fence.shape, Polygon)
        frame = LocalFrame(centre)
        radius = max(math.hypot(*frame.to_xy(v)) for v in fence.shape.vertices)
    # From beyond the fence on one side, through its centre, to beyond it on the other: the
    # centre sees all of a star-shaped polygon, so the path crosses its boundary only twice.
    frame = LocalFrame(centre)
    out = (reach * radius * math.cos(heading), reach * radius * math.sin(heading))
    start, end = frame.to_latlon(out), frame.to_latlon((-out[0], -out[1]))
    geofences = GeofenceSet([fence])
    assert geofences.move("r", None, start, 0.0) == []
    assert [e.kind for e in geofences.move("r", start, end, 1.0)] == ["enter", "exit"]


def test_a_jump_across_the_whole_city_still_sees_the_fences_on_the_way() -> None:
    # Too long a move for the grid prefilter: every fence is checked instead.
    fences = GeofenceSet([polygon("sq", *SQUARE), circle("c", p(25.2, 55.3), 300.0)])
    start, end = p(24.9, 54.9), p(25.5, 55.7)
    fences.move("r", None, start, 0.0)
    # The diagonal crosses the square's west edge, then passes through the circle's centre.
    assert kinds(fences.move("r", start, end, 1.0)) == [
        ("sq", "enter"), ("sq", "exit"), ("c", "enter"), ("c", "exit")]
    assert kinds(fences.move("r", end, p(25.5, 54.9), 2.0)) == []
