"""The grid prefilter: candidates are a superset of the boxes that meet the query."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from yellowbox_realtime.domain.boxgrid import Box, BoxGrid


def test_boxes_are_found_from_the_cells_they_cover_and_forgotten() -> None:
    grid: BoxGrid[str] = BoxGrid(cell_deg=0.1, max_query_cells=4)
    grid.add("a", (25.0, 55.0, 25.25, 55.05))
    grid.add("b", (25.3, 55.3, 25.31, 55.31))
    assert grid.query((25.21, 55.01, 25.22, 55.02)) == {"a"}
    assert grid.query((25.31, 55.31, 25.31, 55.31)) == {"b"}
    assert grid.query((24.0, 54.0, 24.0, 54.0)) == set()
    # Too wide a query: the caller scans everything instead.
    assert grid.query((25.0, 55.0, 25.5, 55.5)) is None
    grid.remove("a", (25.0, 55.0, 25.25, 55.05))
    assert grid.query((25.21, 55.01, 25.22, 55.02)) == set()
    grid.remove("b", (25.3, 55.3, 25.31, 55.31))
    assert grid.cells() == 0


def boxes() -> st.SearchStrategy[Box]:
    return st.tuples(st.floats(24.9, 25.4), st.floats(54.9, 55.6),
                     st.floats(0.0, 0.3), st.floats(0.0, 0.3)).map(
        lambda b: (b[0], b[1], b[0] + b[2], b[1] + b[3]))


def meet(a: Box, b: Box) -> bool:
    return not (a[2] < b[0] or b[2] < a[0] or a[3] < b[1] or b[3] < a[1])


@given(st.lists(boxes(), max_size=10), boxes())
def test_every_box_that_meets_the_query_is_a_candidate(filed: list[Box], query: Box) -> None:
    grid: BoxGrid[int] = BoxGrid(max_query_cells=1000)
    for n, box in enumerate(filed):
        grid.add(n, box)
    found = grid.query(query)
    assert found is not None
    assert {n for n, box in enumerate(filed) if meet(box, query)} <= found
