"""Fences from configuration-like data: TOML and JSON shapes, and errors naming fence and field."""

from __future__ import annotations

import json
import tomllib
from typing import Any

import pytest

from yellowbox_realtime.domain.geo import LatLon
from yellowbox_realtime.domain.geofence import Circle, Polygon
from yellowbox_realtime.domain.geofence_config import (
    fence_from_data,
    fences_from_data,
    fences_to_data,
)
from yellowbox_realtime.errors import ValidationError

TOML = """
[[fences]]
id = "marina"
name = "Dubai Marina"
kind = "zone"
circle = { latitude = 25.08, longitude = 55.14, radius = 800 }

[[fences]]
id = "jafza"
name = "Jebel Ali depot"
kind = "depot"
polygon = [
    { latitude = 25.00, longitude = 55.05 },
    { latitude = 25.00, longitude = 55.07 },
    { latitude = 25.02, longitude = 55.07 },
    { latitude = 25.00, longitude = 55.05 },
]
"""


def test_fences_load_from_toml_and_round_trip_through_json() -> None:
    fences = fences_from_data(tomllib.loads(TOML)["fences"])
    marina, jafza = fences
    assert (marina.id, marina.name, marina.kind) == ("marina", "Dubai Marina", "zone")
    assert marina.shape == Circle(LatLon(25.08, 55.14), 800)
    # The GeoJSON-style closing vertex is dropped.
    assert jafza.shape == Polygon((LatLon(25.0, 55.05), LatLon(25.0, 55.07),
                                   LatLon(25.02, 55.07)))
    again = fences_from_data(json.loads(json.dumps(fences_to_data(fences))))
    assert again == fences


def good() -> dict[str, Any]:
    return {"id": "f1", "name": "F1", "kind": "no_go",
            "circle": {"latitude": 25.0, "longitude": 55.0, "radius": 100}}


def with_(**changes: Any) -> dict[str, Any]:
    data = good()
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


@pytest.mark.parametrize(("data", "message"), [
    ("marina", r"^fences\[0\] must be an object"),
    (with_(id=None), r"^fences\[0\]: id is required"),
    (with_(id=7), r"^fences\[0\]: id is required and must be a string"),
    (with_(colour="red"), r"^fence 'f1': unknown field\(s\): colour"),
    (with_(name=None), r"^fence 'f1': name is required"),
    (with_(kind="hub"), r"^fence 'f1': kind must be one of zone, depot, no_go"),
    (with_(circle=None), r"^fence 'f1': give exactly one of circle and polygon"),
    (with_(polygon=[]), r"^fence 'f1': give exactly one of circle and polygon"),
    (with_(circle={"latitude": 25.0, "longitude": 55.0}),
     r"^fence 'f1': circle must be an object with latitude, longitude and radius"),
    (with_(circle={"latitude": 25.0, "longitude": 55.0, "radius": "100"}),
     r"^fence 'f1': circle.radius must be a number"),
    (with_(circle={"latitude": 25.0, "longitude": 55.0, "radius": -1}),
     r"^fence 'f1': circle.radius must be positive"),
    (with_(circle={"latitude": "25", "longitude": 55.0, "radius": 1}),
     r"^fence 'f1': circle.latitude must be a number"),
    (with_(circle=None, polygon={"latitude": 25.0}),
     r"^fence 'f1': polygon must be a list of vertices"),
    (with_(circle=None, polygon=[[25.0, 55.0], [25.0, 55.1], [25.1, 55.0]]),
     r"^fence 'f1': polygon\[0\] must be an object with latitude and longitude"),
    (with_(circle=None, polygon=[{"latitude": 25.0, "longitude": 55.0, "alt": 3},
                                 {"latitude": 25.0, "longitude": 55.1},
                                 {"latitude": 25.1, "longitude": 55.0}]),
     r"^fence 'f1': polygon\[0\] has unknown field\(s\): alt"),
    (with_(circle=None, polygon=[{"latitude": 25.0, "longitude": 55.0},
                                 {"latitude": 25.0, "longitude": 55.1},
                                 {"latitude": 95.0, "longitude": 55.0}]),
     r"^fence 'f1': polygon\[2\].latitude must be between"),
])
def test_bad_fence_data_is_refused_naming_the_fence_and_the_field(
        data: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        fences_from_data([data])


def test_a_list_is_refused_whole_for_a_repeated_id_or_a_bad_shape() -> None:
    with pytest.raises(ValidationError, match="must be a list"):
        fences_from_data({"fences": []})
    with pytest.raises(ValidationError, match=r"^fence 'f1': id is used by an earlier fence"):
        fences_from_data([good(), good()])
    with pytest.raises(ValidationError, match=r"^fence: id is required"):
        fence_from_data({})
