#!/usr/bin/env bash
# Installs what the tests need into ./.venv (Python packages, the npm socket.io-client
# used by the interop tests) and runs the linters, the type checker and the test suite.
# Arguments go to pytest: `bash scripts/test.sh tests/test_config.py -q`.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
# The suite runs with the versions requirements/test.txt pins (scripts/lock.sh refreshes it),
# which are chosen for CPython 3.11 on Linux x86_64. Elsewhere pyproject.toml's ranges are
# installed instead, and the run says so.
target="$(.venv/bin/python -c 'import platform, sys
print(sys.implementation.name, "%d.%d" % sys.version_info[:2], sys.platform, platform.machine())')"
if [ "$target" = "cpython 3.11 linux x86_64" ]; then
    .venv/bin/python -m pip install --quiet -r requirements/test.txt
    .venv/bin/python -m pip install --quiet --no-deps -e .
else
    echo "test.sh: requirements/test.txt is locked for cpython 3.11 linux x86_64, not $target;" \
        "installing the unlocked ranges of pyproject.toml" >&2
    .venv/bin/python -m pip install --quiet -e '.[test]'
fi

command -v node >/dev/null || { echo "node is required for the interop tests" >&2; exit 1; }
(cd tests/interop/node && npm ci --no-audit --no-fund --silent)
# The web client package: built (the interop tests import its dist/) and unit-tested.
(cd clients/web && npm ci --no-audit --no-fund --silent && npm run --silent build)
(cd clients/web && npm test --silent)

.venv/bin/ruff check src tests bench
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
