"""Plane geometry helpers: distances, the local frame, boundaries and crossings."""

from __future__ import annotations

import math

import pytest

from yellowbox_realtime.domain.geo import (
    METRES_PER_DEGREE,
    LatLon,
    LocalFrame,
    haversine_m,
    point_in_polygon,
    segment_crossings,
)


def test_haversine_matches_known_distances() -> None:
    assert haversine_m(LatLon(25.0, 55.0), LatLon(26.0, 55.0)) == pytest.approx(
        METRES_PER_DEGREE)
    # Along a parallel a degree of longitude is shorter by about cos(latitude).
    along = haversine_m(LatLon(25.0, 55.0), LatLon(25.0, 55.01))
    assert along == pytest.approx(0.01 * METRES_PER_DEGREE * math.cos(math.radians(25.0)),
                                  rel=1e-6)
    assert haversine_m(LatLon(0.0, 0.0), LatLon(0.0, 180.0)) == pytest.approx(
        math.pi * 6_371_008.8)


def test_the_local_frame_is_metres_and_inverts() -> None:
    frame = LocalFrame(LatLon(25.0, 55.0))
    north = frame.to_xy(LatLon(25.001, 55.0))
    assert north == pytest.approx((0.0, 0.001 * METRES_PER_DEGREE))
    point = LatLon(25.0123, 55.0456)
    back = frame.to_latlon(frame.to_xy(point))
    assert (back.latitude, back.longitude) == pytest.approx((point.latitude, point.longitude))
    # Short distances in the frame agree with the sphere to well under a metre.
    x, y = frame.to_xy(point)
    assert math.hypot(x, y) == pytest.approx(haversine_m(frame.origin, point), abs=0.5)


SQUARE = [(0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0)]


@pytest.mark.parametrize(("point", "inside"), [
    ((5.0, 5.0), True), ((0.0, 5.0), True), ((10.0, 10.0), True), ((10.0005, 5.0), True),
    ((10.002, 5.0), False), ((-1.0, 0.0), False), ((-1.0, 10.0), False), ((5.0, 11.0), False),
])
def test_point_in_polygon_within_a_millimetre_of_the_boundary_is_inside(
        point: tuple[float, float], inside: bool) -> None:
    assert point_in_polygon(point, SQUARE) is inside


@pytest.mark.parametrize(("a", "b", "c", "d", "expected"), [
    ((0, 0), (10, 0), (5, -5), (5, 5), [0.5]),            # crossing
    ((0, 0), (10, 0), (5, 0), (5, 5), [0.5]),             # touching an end of the other
    ((0, 0), (10, 0), (5, 1), (5, 5), []),                # apart
    ((0, 0), (10, 0), (2, 0), (4, 0), [0.2, 0.4]),        # collinear overlap
    ((0, 0), (10, 0), (12, 0), (14, 0), []),              # collinear, apart
    ((0, 0), (10, 0), (0, 1), (10, 1), []),               # parallel
    ((0, 0), (10, 0), (10.0005, -1), (10.0005, 1), [1.0]),  # within the tolerance of the end
    ((3, 3), (3, 3), (0, 3), (10, 3), [0.0]),             # a point on the other
])
def test_segment_crossings(a: tuple[float, float], b: tuple[float, float],
                           c: tuple[float, float], d: tuple[float, float],
                           expected: list[float]) -> None:
    assert segment_crossings(a, b, c, d) == pytest.approx(expected)
