"""Geofences: circles and polygons, and the enter/exit events of riders moving through them.

Pure: positions and times are passed in, nothing here does I/O.

Boundaries count as inside (fences are closed sets), for circles (distance <= radius) and
polygons (on an edge or a vertex, within a millimetre) alike. So a rider whose path only
touches a fence at one point visits it: an enter and an exit at that point.

Between two updates a rider is taken to move in a straight line (straight in
latitude/longitude, see ``geo``), so a rider that jumps across a fence gets an enter and
then an exit, and one crossing a concave polygon's bay gets an exit and an enter again.
Events of several fences come out in the order they happen along the path.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from ..errors import NotFound, ValidationError
from .boxgrid import Box, BoxGrid
from .geo import (
    METRES_PER_DEGREE,
    LatLon,
    LocalFrame,
    Vec,
    haversine_m,
    on_segment,
    point_in_polygon,
    segment_crossings,
)

__all__ = ["FENCE_KINDS", "MAX_EXTENT_M", "MAX_RADIUS_M", "MAX_VERTICES", "Circle", "Fence",
           "FenceKind", "GeofenceEvent", "GeofenceSet", "Polygon", "Shape"]

FenceKind = Literal["zone", "depot", "no_go"]
FENCE_KINDS: tuple[FenceKind, ...] = ("zone", "depot", "no_go")
# City-sized fences only: the planar approximations in ``geo`` are argued for these sizes,
# and no fence can reach the antimeridian or a pole.
MAX_RADIUS_M = 50_000.0
MAX_EXTENT_M = 100_000.0
MAX_LATITUDE = 85.0
# Every update tests the path against each edge of the nearby polygons; this keeps one
# update's work bounded (and the quadratic self-intersection check at load time cheap).
MAX_VERTICES = 200
# Ids appear in URLs and logs.
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")
MAX_NAME_CHARS = 200
# Thinner than this, or smaller than this, a polygon is a line or a point, not an area.
MIN_WIDTH_M = 0.1
MIN_AREA_M2 = 1.0


@dataclass(frozen=True, slots=True)
class Circle:
    centre: LatLon
    radius_m: float


@dataclass(frozen=True, slots=True)
class Polygon:
    """A simple polygon, any winding, given without repeating the first vertex at the end."""

    vertices: tuple[LatLon, ...]


Shape = Circle | Polygon


@dataclass(frozen=True, slots=True)
class Fence:
    """A validated fence: constructing one with bad data raises ``ValidationError``."""

    id: str
    name: str
    kind: FenceKind
    shape: Shape

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not _ID.fullmatch(self.id):
            raise ValidationError(
                f"fence {self.id!r}: id must be 1 to 64 letters, digits or _.:- "
                "starting with a letter or digit")
        _validate_fence(self)


@dataclass(frozen=True, slots=True)
class GeofenceEvent:
    rider_id: str
    fence_id: str
    kind: Literal["enter", "exit"]
    at: float


def _fail(fence: Fence, message: str) -> ValidationError:
    return ValidationError(f"fence {fence.id!r}: {message}")


def _validate_fence(fence: Fence) -> None:
    if not isinstance(fence.name, str) or not fence.name.strip():
        raise _fail(fence, "name must be a non-empty string")
    if len(fence.name) > MAX_NAME_CHARS:
        raise _fail(fence, f"name must be at most {MAX_NAME_CHARS} characters")
    if fence.kind not in FENCE_KINDS:
        raise _fail(fence, f"kind must be one of {', '.join(FENCE_KINDS)}, "
                           f"got {fence.kind!r}")
    shape = fence.shape
    if isinstance(shape, Circle):
        _validate_point(fence, "circle", shape.centre)
        radius = shape.radius_m
        if isinstance(radius, bool) or not isinstance(radius, int | float) \
                or not math.isfinite(radius):
            raise _fail(fence, "circle.radius must be a number of metres")
        if radius <= 0:
            raise _fail(fence, f"circle.radius must be positive, got {radius:g}")
        if radius > MAX_RADIUS_M:
            raise _fail(fence, f"circle.radius must be at most {MAX_RADIUS_M:g} metres")
    elif isinstance(shape, Polygon):
        _validate_polygon(fence, shape)
    else:
        raise _fail(fence, "shape must be a circle or a polygon")


def _validate_point(fence: Fence, where: str, point: LatLon) -> None:
    for name, value, limit in (("latitude", point.latitude, MAX_LATITUDE),
                               ("longitude", point.longitude, 180.0)):
        if isinstance(value, bool) or not isinstance(value, int | float) \
                or not math.isfinite(value):
            raise _fail(fence, f"{where}.{name} must be a number")
        if not -limit <= value <= limit:
            raise _fail(fence, f"{where}.{name} must be between {-limit:g} and {limit:g}, "
                               f"got {value:g}")


def _validate_polygon(fence: Fence, polygon: Polygon) -> None:
    vertices = polygon.vertices
    if not 3 <= len(vertices) <= MAX_VERTICES:
        raise _fail(fence, f"polygon must have 3 to {MAX_VERTICES} vertices, "
                           f"got {len(vertices)}")
    for i, vertex in enumerate(vertices):
        _validate_point(fence, f"polygon[{i}]", vertex)
    south = min(v.latitude for v in vertices)
    north = max(v.latitude for v in vertices)
    west = min(v.longitude for v in vertices)
    east = max(v.longitude for v in vertices)
    if haversine_m(LatLon(south, west), LatLon(north, east)) > MAX_EXTENT_M:
        raise _fail(fence, f"polygon must fit in {MAX_EXTENT_M / 1000:g} km corner to corner")
    ring = _ring(polygon)
    n = len(ring)
    for i in range(n):
        if on_segment(ring[i], ring[(i + 1) % n], ring[(i + 1) % n]):
            hint = " (leave the ring open)" if i == n - 1 else ""
            raise _fail(fence, f"polygon[{max(i, (i + 1) % n)}] repeats "
                               f"polygon[{min(i, (i + 1) % n)}]{hint}")
    # Every vertex close to the line through the first one and the one farthest from it.
    (x0, y0) = ring[0]
    fx, fy = max(((x - x0, y - y0) for x, y in ring), key=lambda v: math.hypot(*v))
    if all(abs(fx * (y - y0) - fy * (x - x0)) <= MIN_WIDTH_M * math.hypot(fx, fy)
           for x, y in ring):
        raise _fail(fence, "polygon is degenerate (its vertices are on one line)")
    edges = [(ring[i], ring[(i + 1) % n]) for i in range(n)]
    for i in range(n):
        a, b = edges[i]
        # Adjacent edges share a vertex; they may only meet there, not fold back on each other.
        c, d = edges[(i + 1) % n]
        if on_segment(d, a, b) or on_segment(a, c, d):
            raise _fail(fence, f"polygon folds back on itself at polygon[{(i + 1) % n}]")
    for i in range(n):
        a, b = edges[i]
        for j in range(i + 2, n):
            if i == 0 and j == n - 1:
                continue
            c, d = edges[j]
            if segment_crossings(a, b, c, d):
                raise _fail(fence, f"polygon intersects itself: the edge from polygon[{i}] "
                                   f"meets the edge from polygon[{j}]")
    area = abs(sum(ring[i][0] * ring[(i + 1) % n][1] - ring[(i + 1) % n][0] * ring[i][1]
                   for i in range(n))) / 2
    if area < MIN_AREA_M2:
        raise _fail(fence, f"polygon encloses less than {MIN_AREA_M2:g} square metre")


def _frame(polygon: Polygon) -> LocalFrame:
    lats = [v.latitude for v in polygon.vertices]
    lons = [v.longitude for v in polygon.vertices]
    return LocalFrame(LatLon((min(lats) + max(lats)) / 2, (min(lons) + max(lons)) / 2))


def _ring(polygon: Polygon) -> list[Vec]:
    frame = _frame(polygon)
    return [frame.to_xy(v) for v in polygon.vertices]


# What a shape reports for a path: whether its start is inside, then each change of
# inside-ness as (parameter along the path in [0, 1], inside after it).
Path = tuple[bool, list[tuple[float, bool]]]


@dataclass(slots=True)
class _Compiled:
    """A fence with what the per-update geometry needs precomputed."""

    fence: Fence
    order: int
    box: Box
    frame: LocalFrame
    ring: list[Vec] = field(default_factory=list)

    def contains(self, point: LatLon) -> bool:
        shape = self.fence.shape
        if isinstance(shape, Circle):
            return haversine_m(point, shape.centre) <= shape.radius_m
        return point_in_polygon(self.frame.to_xy(point), self.ring)

    def path(self, start: LatLon, end: LatLon) -> Path:
        if isinstance(self.fence.shape, Circle):
            return self._circle_path(self.fence.shape, start, end)
        return self._polygon_path(start, end)

    def _circle_path(self, circle: Circle, start: LatLon, end: LatLon) -> Path:
        inside_start, inside_end = self.contains(start), self.contains(end)
        a, b = self.frame.to_xy(start), self.frame.to_xy(end)
        dx, dy = b[0] - a[0], b[1] - a[1]
        length2 = dx * dx + dy * dy
        if length2 == 0.0 or (inside_start and inside_end):
            # A disc is convex: a straight path between two inside points stays inside.
            return inside_start, []
        # Where the path meets the circle in the frame centred on it: only for ordering,
        # inside-ness itself is decided by the exact distance.
        half_b = a[0] * dx + a[1] * dy
        c = a[0] * a[0] + a[1] * a[1] - circle.radius_m ** 2
        disc = half_b * half_b - length2 * c
        roots = None
        if disc >= 0:
            root = math.sqrt(disc)
            roots = (_clamp((-half_b - root) / length2), _clamp((-half_b + root) / length2))
        if inside_start:
            return True, [(roots[1] if roots else 0.0, False)]
        if inside_end:
            return False, [(roots[0] if roots else 1.0, True)]
        closest = _clamp(-half_b / length2)
        nearest = self.frame.to_latlon((a[0] + closest * dx, a[1] + closest * dy))
        if not self.contains(nearest):
            return False, []
        enter, leave = roots if roots else (closest, closest)
        return False, [(enter, True), (leave, False)]

    def _polygon_path(self, start: LatLon, end: LatLon) -> Path:
        a, b = self.frame.to_xy(start), self.frame.to_xy(end)
        ring = self.ring
        critical = {0.0, 1.0}
        if a != b:
            for i in range(len(ring)):
                critical.update(segment_crossings(a, b, ring[i], ring[(i + 1) % len(ring)]))
        ts = sorted(critical)

        def inside_at(t: float) -> bool:
            return point_in_polygon((a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])), ring)

        # Inside-ness can only change at a boundary point, so one sample between each pair
        # of them finds every change; a change is placed at the boundary point next to it.
        first = inside_at(0.0)
        state, changes = first, []
        for i in range(1, len(ts)):
            middle = inside_at((ts[i - 1] + ts[i]) / 2)
            if middle != state:
                changes.append((ts[i - 1], middle))
                state = middle
            here = inside_at(ts[i])
            if here != state:
                changes.append((ts[i], here))
                state = here
        return first, changes


def _clamp(t: float) -> float:
    return min(1.0, max(0.0, t))


def _compile(fence: Fence, order: int) -> _Compiled:
    shape = fence.shape
    if isinstance(shape, Circle):
        # Latitude degrees are the same length everywhere; a longitude degree is shortest at
        # the latitude farthest from the equator. The margin covers the spherical excess.
        dlat = shape.radius_m / METRES_PER_DEGREE * 1.01
        widest = min(89.9, abs(shape.centre.latitude) + dlat)
        dlon = dlat / math.cos(math.radians(widest))
        box = (shape.centre.latitude - dlat, shape.centre.longitude - dlon,
               shape.centre.latitude + dlat, shape.centre.longitude + dlon)
        return _Compiled(fence, order, box, LocalFrame(shape.centre))
    # A centimetre of slack in degrees, above the millimetre boundary tolerance.
    slack = 1e-7
    box = (min(v.latitude for v in shape.vertices) - slack,
           min(v.longitude for v in shape.vertices) - slack,
           max(v.latitude for v in shape.vertices) + slack,
           max(v.longitude for v in shape.vertices) + slack)
    return _Compiled(fence, order, box, _frame(shape), _ring(shape))


class GeofenceSet:
    """The fences and which of them each rider is in.

    Only riders inside at least one fence are remembered, so memory is bounded by riders x
    fences; ``forget`` drops a rider (gone offline, say). Adding, replacing or removing a
    fence emits nothing: riders' memberships catch up on their next move (a removed fence
    is dropped from them silently).
    """

    def __init__(self, fences: Iterable[Fence] = ()) -> None:
        self._fences: dict[str, _Compiled] = {}
        self._inside: dict[str, frozenset[str]] = {}
        self._grid: BoxGrid[str] = BoxGrid()
        self._added = 0
        for fence in fences:
            self.add(fence)

    def add(self, fence: Fence) -> None:
        if fence.id in self._fences:
            raise ValidationError(f"fence {fence.id!r} already exists")
        self._added += 1
        self._file(_compile(fence, self._added))

    def replace(self, fence: Fence) -> None:
        old = self._fences.get(fence.id)
        if old is None:
            raise NotFound(f"no fence {fence.id!r}")
        self._grid.remove(fence.id, old.box)
        self._file(_compile(fence, old.order))

    def remove(self, fence_id: str) -> Fence:
        compiled = self._fences.pop(fence_id, None)
        if compiled is None:
            raise NotFound(f"no fence {fence_id!r}")
        self._grid.remove(fence_id, compiled.box)
        for rider_id, inside in list(self._inside.items()):
            if fence_id in inside:
                self._remember(rider_id, inside - {fence_id})
        return compiled.fence

    def _file(self, compiled: _Compiled) -> None:
        self._fences[compiled.fence.id] = compiled
        self._grid.add(compiled.fence.id, compiled.box)

    def get(self, fence_id: str) -> Fence:
        compiled = self._fences.get(fence_id)
        if compiled is None:
            raise NotFound(f"no fence {fence_id!r}")
        return compiled.fence

    def fences(self) -> list[Fence]:
        """Every fence, in the order they were first added."""
        return [c.fence for c in sorted(self._fences.values(), key=lambda c: c.order)]

    def inside(self, rider_id: str) -> frozenset[str]:
        """The ids of the fences the rider is in, as of its last move."""
        return self._inside.get(rider_id, frozenset())

    def forget(self, rider_id: str) -> None:
        self._inside.pop(rider_id, None)

    def riders(self) -> int:
        """How many riders are remembered (those inside at least one fence)."""
        return len(self._inside)

    def __len__(self) -> int:
        return len(self._fences)

    def __contains__(self, fence_id: object) -> bool:
        return fence_id in self._fences

    def move(self, rider_id: str, previous: LatLon | None, current: LatLon,
             at: float) -> list[GeofenceEvent]:
        """The enter and exit events of a rider's move, in the order they happen.

        ``previous`` is the rider's last position (``None`` for its first, whose fences it
        then enters). Events of one move all carry ``at``; where two happen at the same
        point (the shared edge of two fences), the enter comes first, because on a boundary
        the rider is in both.
        """
        start = previous if previous is not None else current
        was = self.inside(rider_id)
        south, north = sorted((start.latitude, current.latitude))
        west, east = sorted((start.longitude, current.longitude))
        found: list[tuple[float, int, int, GeofenceEvent]] = []
        now_inside = set()
        nearby = self._grid.query((south, west, north, east))
        candidates = self._fences.keys() if nearby is None else nearby | was
        for fence_id in candidates:
            compiled = self._fences[fence_id]
            box = compiled.box
            near = not (north < box[0] or south > box[2] or east < box[1] or west > box[3])
            if not near and fence_id not in was:
                continue
            first, changes = compiled.path(start, current) if near else (False, [])
            state = fence_id in was
            emitted: list[tuple[float, bool]] = []
            for t, inside in [(0.0, first), *changes]:
                if inside == state:
                    continue
                if emitted and emitted[-1][0] == t and not emitted[-1][1] and inside:
                    # Out and back in at the same point: on the boundary, so never out.
                    emitted.pop()
                else:
                    emitted.append((t, inside))
                state = inside
            if state:
                now_inside.add(fence_id)
            for t, inside in emitted:
                event = GeofenceEvent(rider_id, fence_id, "enter" if inside else "exit", at)
                found.append((t, 0 if inside else 1, compiled.order, event))
        self._remember(rider_id, frozenset(now_inside))
        found.sort(key=lambda item: item[:3])
        return [item[3] for item in found]

    def _remember(self, rider_id: str, inside: frozenset[str]) -> None:
        if inside:
            self._inside[rider_id] = inside
        else:
            self._inside.pop(rider_id, None)
