#!/usr/bin/env bash
# Installs what the tests need into ./.venv (Python packages, the npm socket.io-client
# used by the interop tests) and runs the linters, the type checker and the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'

command -v node >/dev/null || { echo "node is required for the interop tests" >&2; exit 1; }
(cd tests/interop/node && npm ci --no-audit --no-fund --silent)
# The web client package: built (the interop tests import its dist/) and unit-tested.
(cd clients/web && npm ci --no-audit --no-fund --silent && npm run --silent build)
(cd clients/web && npm test --silent)

.venv/bin/ruff check src tests bench
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
