"""Plane geometry on a city-sized patch of the Earth (pure, no I/O).

Two tools, each used where it is exact enough and cheap:

* ``haversine_m`` for distances from a circle's centre: exact on the sphere, so a circular
  fence is the set of points within its radius, as a person measuring on a map expects.
* ``LocalFrame``, an equirectangular projection around a reference latitude: metres east
  ``(lon - lon0) * cos(lat0)`` and north ``(lat - lat0)``. It is an affine map of
  latitude/longitude, so a polygon whose edges are straight in latitude/longitude (how the
  dashboard draws them from coordinates) has straight edges in the frame, and a point on an
  edge stays on it: point-in-polygon answers do not depend on the frame at all. The frame
  only gives tolerances and closest points a length in metres; its east-west scale is off by
  ``tan(lat0) * dlat`` relatively, under 0.2 % for 25 km north or south of ``lat0`` at
  Dubai's latitude, which only moves a tolerance of a millimetre by less than a micrometre.
  A straight latitude/longitude edge differs from a great circle by under a metre for a
  10 km edge at 25 degrees north, well inside a phone's GPS error.

Longitudes are not wrapped: fences here never cross the antimeridian (Dubai is at 55 E),
and the fence validation caps their size so that none can.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["BOUNDARY_TOLERANCE_M", "EARTH_RADIUS_M", "METRES_PER_DEGREE", "LatLon",
           "LocalFrame", "Vec", "distance_to_segment", "haversine_m", "on_segment",
           "point_in_polygon", "segment_crossings"]

# The IUGG mean radius; the spherical model is within 0.5 % of the ellipsoid everywhere.
EARTH_RADIUS_M = 6_371_008.8
METRES_PER_DEGREE = EARTH_RADIUS_M * math.pi / 180.0
# Points this close to a polygon's boundary count as on it. Far above the rounding error of
# a double-precision degree (about a nanometre) and far below any GPS accuracy.
BOUNDARY_TOLERANCE_M = 1e-3

Vec = tuple[float, float]


@dataclass(frozen=True, slots=True)
class LatLon:
    latitude: float
    longitude: float


def haversine_m(a: LatLon, b: LatLon) -> float:
    """Great-circle distance in metres."""
    phi1, phi2 = math.radians(a.latitude), math.radians(b.latitude)
    dphi = phi2 - phi1
    dlam = math.radians(b.longitude - a.longitude)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlam / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


@dataclass(frozen=True, slots=True)
class LocalFrame:
    """Equirectangular metres around ``origin`` (see the module docstring)."""

    origin: LatLon

    def to_xy(self, point: LatLon) -> Vec:
        east = math.cos(math.radians(self.origin.latitude)) * METRES_PER_DEGREE
        return ((point.longitude - self.origin.longitude) * east,
                (point.latitude - self.origin.latitude) * METRES_PER_DEGREE)

    def to_latlon(self, xy: Vec) -> LatLon:
        east = math.cos(math.radians(self.origin.latitude)) * METRES_PER_DEGREE
        return LatLon(self.origin.latitude + xy[1] / METRES_PER_DEGREE,
                      self.origin.longitude + xy[0] / east)


def _cross(o: Vec, a: Vec, b: Vec) -> float:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def _project(p: Vec, a: Vec, b: Vec) -> float:
    """The parameter along ``a -> b`` of the point closest to ``p`` on the whole line."""
    dx, dy = b[0] - a[0], b[1] - a[1]
    length2 = dx * dx + dy * dy
    if length2 == 0.0:
        return 0.0
    return ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / length2


def _clamp(t: float) -> float:
    return min(1.0, max(0.0, t))


def distance_to_segment(p: Vec, a: Vec, b: Vec) -> float:
    t = _clamp(_project(p, a, b))
    x, y = a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])
    return math.hypot(p[0] - x, p[1] - y)


def on_segment(p: Vec, a: Vec, b: Vec, tolerance: float = BOUNDARY_TOLERANCE_M) -> bool:
    return distance_to_segment(p, a, b) <= tolerance


def point_in_polygon(p: Vec, ring: list[Vec]) -> bool:
    """Whether ``p`` is inside the closed polygon: its boundary counts as inside.

    Points within ``BOUNDARY_TOLERANCE_M`` of an edge or a vertex are on the boundary; the
    rest are decided by counting crossings of a ray to the east, with each edge taken as
    half-open in y so that a ray through a vertex counts it once.
    """
    inside = False
    n = len(ring)
    tol = BOUNDARY_TOLERANCE_M
    for i in range(n):
        a, b = ring[i], ring[(i + 1) % n]
        # The distance is only worth computing for edges whose box (plus the tolerance)
        # holds the point.
        if (min(a[0], b[0]) - tol <= p[0] <= max(a[0], b[0]) + tol
                and min(a[1], b[1]) - tol <= p[1] <= max(a[1], b[1]) + tol
                and on_segment(p, a, b)):
            return True
        if (a[1] > p[1]) != (b[1] > p[1]):
            x = a[0] + (p[1] - a[1]) * (b[0] - a[0]) / (b[1] - a[1])
            if x > p[0]:
                inside = not inside
    return inside


def segment_crossings(a: Vec, b: Vec, c: Vec, d: Vec,
                      tolerance: float = BOUNDARY_TOLERANCE_M) -> list[float]:
    """Parameters ``t`` in [0, 1] along ``a -> b`` where it meets the segment ``c -> d``.

    One parameter for a crossing or a touch, the two ends of the shared stretch for
    collinear overlap, none when they are apart by more than ``tolerance``. Touches count:
    callers treat boundaries as inside, so grazing a vertex is a visit.
    """
    if (max(a[0], b[0]) + tolerance < min(c[0], d[0])
            or max(c[0], d[0]) + tolerance < min(a[0], b[0])
            or max(a[1], b[1]) + tolerance < min(c[1], d[1])
            or max(c[1], d[1]) + tolerance < min(a[1], b[1])):
        return []
    r = (b[0] - a[0], b[1] - a[1])
    s = (d[0] - c[0], d[1] - c[1])
    len_r, len_s = math.hypot(*r), math.hypot(*s)
    if len_r == 0.0:
        return [0.0] if on_segment(a, c, d, tolerance) else []
    denom = r[0] * s[1] - r[1] * s[0]
    if abs(denom) > 1e-12 * len_r * max(len_s, 1e-300):
        qp = (c[0] - a[0], c[1] - a[1])
        t = (qp[0] * s[1] - qp[1] * s[0]) / denom
        u = (qp[0] * r[1] - qp[1] * r[0]) / denom
        slack_t, slack_u = tolerance / len_r, tolerance / max(len_s, 1e-300)
        if -slack_t <= t <= 1 + slack_t and -slack_u <= u <= 1 + slack_u:
            return [_clamp(t)]
        # Near-misses at the ends are decided by distance, like the boundary test.
        near = [t_end for t_end, p in ((0.0, a), (1.0, b)) if on_segment(p, c, d, tolerance)]
        near += [_clamp(_project(q, a, b)) for q in (c, d) if on_segment(q, a, b, tolerance)]
        return sorted(set(near))
    # Parallel: they meet only if collinear, along the overlap of their projections.
    if abs(_cross(a, b, c)) / len_r > tolerance:
        return []
    tc, td = _project(c, a, b), _project(d, a, b)
    low, high = max(0.0, min(tc, td)), min(1.0, max(tc, td))
    slack = tolerance / len_r
    if low > high + slack:
        return []
    return sorted({min(low, high), max(low, high)})
