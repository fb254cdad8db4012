"""A uniform grid over latitude/longitude boxes: which boxes may meet a query box.

The prefilter for geofences: each fence's bounding box is filed under every grid cell it
covers, so a rider's move (a small box) looks at a few cells instead of every fence.
Answers are candidates, a superset of the boxes that really meet; callers still compare
boxes. A query spanning too many cells (a rider teleporting across the city) answers
``None``: scanning everything is then cheaper than walking the cells.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from typing import Generic, TypeVar

__all__ = ["Box", "BoxGrid"]

# south, west, north, east in degrees
Box = tuple[float, float, float, float]
K = TypeVar("K", bound=Hashable)


class BoxGrid(Generic[K]):
    def __init__(self, cell_deg: float = 0.05, max_query_cells: int = 16) -> None:
        # 0.05 degrees is about 5 km at Dubai's latitude: a rider's move between two updates
        # spans one cell, or a few at a cell's corner; the largest fence allowed (a 50 km
        # radius) covers about 400.
        self.cell_deg = cell_deg
        self.max_query_cells = max_query_cells
        self._cells: dict[tuple[int, int], set[K]] = {}

    def _span(self, box: Box) -> tuple[range, range]:
        south, west, north, east = box
        return (range(math.floor(south / self.cell_deg), math.floor(north / self.cell_deg) + 1),
                range(math.floor(west / self.cell_deg), math.floor(east / self.cell_deg) + 1))

    def add(self, key: K, box: Box) -> None:
        rows, columns = self._span(box)
        for row in rows:
            for column in columns:
                self._cells.setdefault((row, column), set()).add(key)

    def remove(self, key: K, box: Box) -> None:
        """Forget ``key``, filed under ``box`` (the same box it was added with)."""
        rows, columns = self._span(box)
        for row in rows:
            for column in columns:
                cell = self._cells.get((row, column))
                if cell is not None:
                    cell.discard(key)
                    if not cell:
                        del self._cells[row, column]

    def query(self, box: Box) -> set[K] | None:
        """The keys filed under any cell ``box`` covers, or ``None`` if it covers too many."""
        rows, columns = self._span(box)
        if len(rows) * len(columns) > self.max_query_cells:
            return None
        found: set[K] = set()
        for row in rows:
            for column in columns:
                cell = self._cells.get((row, column))
                if cell:
                    found |= cell
        return found

    def cells(self) -> int:
        return len(self._cells)
