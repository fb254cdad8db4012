"""Routes and named areas in Dubai, and the geometry to move along them (pure).

The coordinates are written down by hand along main roads (no map data is available to
the simulator); they are close enough for riders to look plausible on a map drawn from
coordinates, not surveyed. Latitude and longitude are in degrees (WGS 84).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass, field

from ..domain.geo import EARTH_RADIUS_M, LatLon, LocalFrame, haversine_m, point_in_polygon

Point = tuple[float, float]  # (latitude, longitude)


@dataclass(frozen=True, slots=True)
class BoundingBox:
    south: float
    north: float
    west: float
    east: float

    def contains(self, point: Point) -> bool:
        lat, lon = point
        return self.south <= lat <= self.north and self.west <= lon <= self.east


# The emirate's built-up coast, from Jebel Ali to the Sharjah border.
DUBAI = BoundingBox(south=24.90, north=25.36, west=54.95, east=55.45)


@dataclass(frozen=True, slots=True)
class Area:
    """A named district as a polygon (vertices in order, not closed)."""

    name: str
    vertices: tuple[Point, ...]

    def contains(self, point: Point) -> bool:
        # The geofences' test, in metres around the first vertex: at district scale the
        # frame's distortion is far below a GPS fix's error.
        frame = LocalFrame(LatLon(*self.vertices[0]))
        ring = [frame.to_xy(LatLon(*vertex)) for vertex in self.vertices]
        return point_in_polygon(frame.to_xy(LatLon(*point)), ring)


AREAS: tuple[Area, ...] = (
    Area("Dubai Marina", ((25.0930, 55.1440), (25.0850, 55.1530), (25.0690, 55.1390),
                          (25.0770, 55.1290))),
    Area("Downtown Dubai", ((25.2040, 55.2690), (25.2030, 55.2830), (25.1905, 55.2840),
                            (25.1905, 55.2690))),
    Area("Business Bay", ((25.1890, 55.2600), (25.1890, 55.2900), (25.1780, 55.2890),
                          (25.1780, 55.2610))),
    Area("Deira", ((25.2800, 55.2950), (25.2780, 55.3300), (25.2560, 55.3360),
                   (25.2500, 55.3150))),
)


def area_at(point: Point, areas: tuple[Area, ...] = AREAS) -> str | None:
    """The name of the first area containing ``point``, or None."""
    for area in areas:
        if area.contains(point):
            return area.name
    return None


def distance_m(a: Point, b: Point) -> float:
    """Great-circle (haversine) distance in metres."""
    return haversine_m(LatLon(*a), LatLon(*b))


def bearing_deg(a: Point, b: Point) -> float:
    """Initial bearing from ``a`` to ``b``, degrees clockwise from north in [0, 360)."""
    lat1, lon1, lat2, lon2 = map(math.radians, (a[0], a[1], b[0], b[1]))
    y = math.sin(lon2 - lon1) * math.cos(lat2)
    x = math.cos(lat1) * math.sin(lat2) - math.sin(lat1) * math.cos(lat2) * math.cos(lon2 - lon1)
    return math.degrees(math.atan2(y, x)) % 360.0


def offset_m(point: Point, north_m: float, east_m: float) -> Point:
    """``point`` moved by a few metres (flat-earth; meant for GPS-sized offsets)."""
    lat, lon = point
    dlat = math.degrees(north_m / EARTH_RADIUS_M)
    dlon = math.degrees(east_m / (EARTH_RADIUS_M * math.cos(math.radians(lat))))
    return (lat + dlat, lon + dlon)


@dataclass(frozen=True, slots=True)
class RoutePoint:
    point: Point
    heading: float
    leg: int  # index of the waypoint the leg starts at


@dataclass(frozen=True)
class Route:
    """A named chain of waypoints, travelled there and back."""

    name: str
    waypoints: tuple[Point, ...]
    # Distance from the start to each waypoint, in metres.
    _marks: tuple[float, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if len(self.waypoints) < 2:
            raise ValueError(f"route {self.name!r} needs at least two waypoints")
        marks = [0.0]
        for a, b in zip(self.waypoints, self.waypoints[1:], strict=False):
            marks.append(marks[-1] + distance_m(a, b))
        object.__setattr__(self, "_marks", tuple(marks))

    @property
    def length_m(self) -> float:
        return self._marks[-1]

    def at(self, distance: float) -> RoutePoint:
        """Where a rider is after ``distance`` metres from the start, clamped to the route."""
        distance = min(max(distance, 0.0), self.length_m)
        leg = min(bisect_right(self._marks, distance) - 1, len(self.waypoints) - 2)
        a, b = self.waypoints[leg], self.waypoints[leg + 1]
        span = self._marks[leg + 1] - self._marks[leg]
        fraction = (distance - self._marks[leg]) / span if span else 0.0
        point = (a[0] + (b[0] - a[0]) * fraction, a[1] + (b[1] - a[1]) * fraction)
        return RoutePoint(point, bearing_deg(a, b), leg)

    def boundary_crossings(self, areas: tuple[Area, ...] = AREAS,
                           step_m: float = 10.0) -> tuple[float, ...]:
        """Distances along the route (to ``step_m``) where it enters or leaves an area."""
        crossings: list[float] = []
        previous = area_at(self.waypoints[0], areas)
        steps = int(self.length_m // step_m)
        for i in range(1, steps + 1):
            here = area_at(self.at(i * step_m).point, areas)
            if here != previous:
                crossings.append(i * step_m)
                previous = here
        return tuple(crossings)


ROUTES: tuple[Route, ...] = (
    Route("Sheikh Zayed Road", (
        (25.2285, 55.2880),  # Trade Centre roundabout
        (25.2175, 55.2810),  # Emirates Towers
        (25.2105, 55.2745),  # Financial Centre
        (25.1915, 55.2605),  # Business Bay interchange
        (25.1710, 55.2420),  # Al Safa
        (25.1550, 55.2285),  # Al Quoz
        (25.1350, 55.2130),
        (25.1210, 55.2005),  # Mall of the Emirates
        (25.1020, 55.1740),  # Internet City
        (25.0880, 55.1550),
        (25.0770, 55.1430),  # Jumeirah Lake Towers
    )),
    Route("Al Khail Road", (
        (25.2020, 55.3250),  # Ras Al Khor
        (25.1870, 55.2960),
        (25.1760, 55.2760),  # Business Bay south
        (25.1620, 55.2560),
        (25.1450, 55.2370),  # Al Quoz
        (25.1230, 55.2200),
        (25.0950, 55.2030),  # Al Barsha South
        (25.0720, 55.1900),
    )),
    Route("Jumeirah Beach Road", (
        (25.2340, 55.2650),  # Jumeirah Mosque
        (25.2170, 55.2520),
        (25.2000, 55.2390),
        (25.1800, 55.2240),
        (25.1600, 55.2090),  # Umm Suqeim
        (25.1420, 55.1920),
        (25.1330, 55.1840),  # Madinat Jumeirah
    )),
    Route("Al Wasl Road", (
        (25.2300, 55.2690),
        (25.2100, 55.2560),
        (25.1900, 55.2420),
        (25.1700, 55.2280),
        (25.1520, 55.2150),
    )),
    Route("Marina and JBR", (
        (25.1020, 55.1740),  # Internet City
        (25.0950, 55.1600),
        (25.0880, 55.1480),
        (25.0800, 55.1400),  # Marina Walk
        (25.0760, 55.1350),
        (25.0700, 55.1310),  # JBR south
    )),
    Route("Downtown and Business Bay", (
        (25.2105, 55.2745),  # Financial Centre
        (25.2000, 55.2720),
        (25.1975, 55.2790),  # Burj Khalifa, east side
        (25.1930, 55.2810),
        (25.1860, 55.2790),  # Marasi Drive
        (25.1820, 55.2700),
        (25.1800, 55.2620),
    )),
    Route("Deira", (
        (25.2400, 55.3180),  # Al Maktoum Bridge
        (25.2470, 55.3230),
        (25.2545, 55.3290),  # Clock Tower
        (25.2630, 55.3200),  # Al Rigga
        (25.2690, 55.3090),  # Baniyas Square
        (25.2730, 55.3000),  # Gold Souk
    )),
)
