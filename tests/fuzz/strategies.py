"""Hypothesis strategies shared by the fuzz tests: JSON values, and WebSocket frames that are
mostly well-formed (so the fuzzer gets past the first byte) with arbitrary bytes mixed in."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import strategies as st

from tests.wsframes import frame

json_values: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=30),
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=25,
)

# Frames a client could send: every opcode (defined or not), any flags, masked or not.
ws_frames = st.builds(
    lambda opcode, payload, fin, masked, rsv: frame(opcode, payload, fin=fin, masked=masked,
                                                    rsv=rsv),
    st.integers(0, 15), st.binary(max_size=300), st.booleans(),
    st.booleans(), st.integers(0, 7))

ws_stream = st.lists(ws_frames | st.binary(min_size=1, max_size=40), max_size=8).map(b"".join)


def chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    """``data`` split at the given offsets (in any order), as reads arrive."""
    points = sorted({c % (len(data) + 1) for c in cuts})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges) if b > a]
