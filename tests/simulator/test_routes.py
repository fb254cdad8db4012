"""Routes and areas: real places in Dubai, and geometry that agrees with itself."""

from __future__ import annotations

import math

import pytest

from yellowbox_realtime.simulator.routes import (
    AREAS,
    DUBAI,
    ROUTES,
    Area,
    Route,
    area_at,
    bearing_deg,
    distance_m,
    offset_m,
)


def test_every_waypoint_and_area_is_in_dubai() -> None:
    for route in ROUTES:
        assert all(DUBAI.contains(point) for point in route.waypoints), route.name
    for area in AREAS:
        assert all(DUBAI.contains(point) for point in area.vertices), area.name


def test_routes_are_named_main_roads_of_city_scale() -> None:
    names = {route.name for route in ROUTES}
    assert {"Sheikh Zayed Road", "Al Khail Road", "Jumeirah Beach Road",
            "Al Wasl Road", "Deira"} <= names
    for route in ROUTES:
        assert 2_000 < route.length_m < 40_000, route.name
        # No leg jumps across the city: consecutive waypoints are a few km apart at most.
        for a, b in zip(route.waypoints, route.waypoints[1:], strict=False):
            assert distance_m(a, b) < 4_000, route.name


def test_distance_and_bearing_of_known_points() -> None:
    # One hundredth of a degree of latitude is about 1.11 km anywhere.
    assert distance_m((25.0, 55.0), (25.01, 55.0)) == pytest.approx(1112, abs=2)
    assert bearing_deg((25.0, 55.0), (25.01, 55.0)) == pytest.approx(0.0, abs=0.01)
    assert bearing_deg((25.0, 55.0), (25.0, 55.01)) == pytest.approx(90.0, abs=0.01)
    assert bearing_deg((25.0, 55.0), (24.99, 55.0)) == pytest.approx(180.0, abs=0.01)
    assert bearing_deg((25.0, 55.0), (25.0, 54.99)) == pytest.approx(270.0, abs=0.01)


def test_offset_moves_by_the_metres_asked() -> None:
    start = (25.2, 55.27)
    moved = offset_m(start, 30.0, 40.0)
    assert distance_m(start, moved) == pytest.approx(50.0, rel=1e-3)
    assert bearing_deg(start, moved) == pytest.approx(math.degrees(math.atan2(40, 30)), abs=0.1)


def test_walking_a_route_ends_at_its_waypoints_and_clamps() -> None:
    route = Route("test", ((25.0, 55.0), (25.01, 55.0), (25.01, 55.01)))
    first_leg = distance_m((25.0, 55.0), (25.01, 55.0))
    assert route.at(0).point == (25.0, 55.0)
    assert route.at(first_leg).point == pytest.approx((25.01, 55.0))
    assert route.at(first_leg / 2).leg == 0
    assert route.at(first_leg / 2).heading == pytest.approx(0.0, abs=0.01)
    assert route.at(first_leg + 10).leg == 1
    assert route.at(first_leg + 10).heading == pytest.approx(90.0, abs=0.1)
    assert route.at(route.length_m + 500).point == pytest.approx((25.01, 55.01))
    assert route.at(-5).point == (25.0, 55.0)
    with pytest.raises(ValueError, match="at least two waypoints"):
        Route("short", ((25.0, 55.0),))


def test_polygon_membership_inside_outside_and_concave() -> None:
    # An L shape: the notch at the top right is outside.
    shape = Area("L", ((0, 0), (0, 2), (1, 2), (1, 1), (2, 1), (2, 0)))
    assert shape.contains((0.5, 0.5))
    assert shape.contains((0.5, 1.5))
    assert shape.contains((1.5, 0.5))
    assert not shape.contains((1.5, 1.5))
    assert not shape.contains((-0.1, 0.5))
    assert area_at((25.0800, 55.1400)) == "Dubai Marina"
    assert area_at((25.1972, 55.2744)) == "Downtown Dubai"  # Burj Khalifa
    assert area_at((25.1500, 55.2000)) is None


def test_some_routes_cross_area_boundaries_where_membership_changes() -> None:
    crossing = [route for route in ROUTES if route.boundary_crossings()]
    assert len(crossing) >= 3
    for route in crossing:
        for distance in route.boundary_crossings():
            before = area_at(route.at(distance - 10).point)
            after = area_at(route.at(distance).point)
            assert before != after, (route.name, distance)
