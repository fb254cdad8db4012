"""Fences from configuration-like data (what TOML or JSON parse to), and back.

One fence is an object::

    {"id": "marina", "name": "Dubai Marina", "kind": "zone",
     "circle": {"latitude": 25.08, "longitude": 55.14, "radius": 800}}
    {"id": "jafza", "name": "Jebel Ali depot", "kind": "depot",
     "polygon": [{"latitude": 25.01, "longitude": 55.06}, ...]}

with exactly one of ``circle`` (``radius`` in metres) and ``polygon``. Vertices are named
objects rather than pairs because GeoJSON orders pairs longitude first and everyone else
latitude first. A polygon may repeat its first vertex at the end (GeoJSON does); the repeat
is dropped. Keys are single words so the same data reads naturally in a snake_case TOML file
and a camelCase JSON API. Unknown keys are refused so a typo does not pass silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from ..errors import ValidationError
from .geo import LatLon
from .geofence import FENCE_KINDS, Circle, Fence, FenceKind, Polygon

__all__ = ["fence_from_data", "fence_to_data", "fences_from_data", "fences_to_data"]

_KEYS = frozenset({"id", "name", "kind", "circle", "polygon"})


def fences_from_data(data: Any) -> list[Fence]:
    """A list of fence objects; refuses the whole list if any fence is bad or ids repeat."""
    if not isinstance(data, list):
        raise ValidationError("fences must be a list of fence objects")
    fences: list[Fence] = []
    seen: set[str] = set()
    for index, item in enumerate(data):
        fence = fence_from_data(item, f"fences[{index}]")
        if fence.id in seen:
            raise ValidationError(f"fence {fence.id!r}: id is used by an earlier fence")
        seen.add(fence.id)
        fences.append(fence)
    return fences


def fence_from_data(data: Any, where: str = "fence") -> Fence:
    """One fence object; ``where`` names it in errors until its id is known."""
    if not isinstance(data, Mapping):
        raise ValidationError(f"{where} must be an object")
    fence_id = data.get("id")
    if not isinstance(fence_id, str) or not fence_id:
        raise ValidationError(f"{where}: id is required and must be a string")
    label = f"fence {fence_id!r}"
    unknown = sorted(str(key) for key in set(data) - _KEYS)
    if unknown:
        raise ValidationError(f"{label}: unknown field(s): {', '.join(unknown)}")
    for key in ("name", "kind"):
        if not isinstance(data.get(key), str):
            raise ValidationError(f"{label}: {key} is required and must be a string")
    kind = data["kind"]
    if kind not in FENCE_KINDS:
        raise ValidationError(f"{label}: kind must be one of {', '.join(FENCE_KINDS)}, "
                              f"got {kind!r}")
    has_circle, has_polygon = "circle" in data, "polygon" in data
    if has_circle == has_polygon:
        raise ValidationError(f"{label}: give exactly one of circle and polygon")
    shape = _circle(label, data["circle"]) if has_circle else _polygon(label, data["polygon"])
    return Fence(fence_id, data["name"], cast(FenceKind, kind), shape)


def _circle(label: str, data: Any) -> Circle:
    if not isinstance(data, Mapping) or set(data) != {"latitude", "longitude", "radius"}:
        raise ValidationError(
            f"{label}: circle must be an object with latitude, longitude and radius (metres)")
    # Types and ranges are checked by Fence, which names the field.
    return Circle(_point(label, "circle", data), data["radius"])


def _polygon(label: str, data: Any) -> Polygon:
    if not isinstance(data, list):
        raise ValidationError(f"{label}: polygon must be a list of vertices")
    vertices = [_point(label, f"polygon[{i}]", item) for i, item in enumerate(data)]
    if len(vertices) > 3 and vertices[0] == vertices[-1]:
        vertices.pop()
    return Polygon(tuple(vertices))


def _point(label: str, where: str, data: Any) -> LatLon:
    if not isinstance(data, Mapping) or not {"latitude", "longitude"} <= set(data):
        raise ValidationError(f"{label}: {where} must be an object with latitude and longitude")
    if where.startswith("polygon") and set(data) != {"latitude", "longitude"}:
        extra = sorted(str(key) for key in set(data) - {"latitude", "longitude"})
        raise ValidationError(f"{label}: {where} has unknown field(s): {', '.join(extra)}")
    return LatLon(data["latitude"], data["longitude"])


def fence_to_data(fence: Fence) -> dict[str, Any]:
    """The inverse of ``fence_from_data``: JSON- and TOML-ready."""
    data: dict[str, Any] = {"id": fence.id, "name": fence.name, "kind": fence.kind}
    shape = fence.shape
    if isinstance(shape, Circle):
        data["circle"] = {"latitude": shape.centre.latitude,
                          "longitude": shape.centre.longitude, "radius": shape.radius_m}
    else:
        data["polygon"] = [{"latitude": v.latitude, "longitude": v.longitude}
                           for v in shape.vertices]
    return data


def fences_to_data(fences: list[Fence]) -> list[dict[str, Any]]:
    return [fence_to_data(fence) for fence in fences]
