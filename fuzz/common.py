"""What every target shares: instrumenting the gateway's modules when atheris is there, and
running the fuzzer. Without atheris a target still imports, so its ``test_one_input`` can
replay a corpus (tests/fuzz/test_atheris_targets.py does)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from typing import Any

try:
    import atheris
except ImportError:  # replaying a corpus needs no fuzzer
    atheris = None


def instrumented() -> contextlib.AbstractContextManager[Any]:
    """Coverage instrumentation for the modules imported inside the block."""
    return atheris.instrument_imports() if atheris is not None else contextlib.nullcontext()


def main(test_one_input: Callable[[bytes], None]) -> None:
    if atheris is None:
        sys.exit("atheris is not installed: pip install atheris")
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


def pieces(data: bytes) -> list[bytes]:
    """``data`` cut where the fuzzer put NUL bytes: several reads, packets or headers."""
    return data.split(b"\x00")
