#!/usr/bin/env bash
# Refreshes every lock the tests and the benchmarks install from, to the newest versions the
# ranges in pyproject.toml and the npm manifests allow:
#
#   requirements/test.txt      pyproject's dependencies and `test` extras (scripts/test.sh)
#   requirements/bench.txt     pyproject's dependencies and `bench` extras, at the versions
#                              test.txt pins where the two overlap (bench/README.md)
#   */package-lock.json        tests/interop/node, clients/web, bench/peers/node, scripts/n8n
#
# The Python locks are for CPython 3.11 on Linux x86_64 (glibc 2.28 or newer): versions are
# chosen for that target and every file carries its sha256 hashes. They are written by uv,
# installed at a fixed version into .venv-lock/. Run scripts/test.sh afterwards to check the
# new versions, and commit the locks with what they needed.
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION="0.13.8"
if [ ! -x .venv-lock/bin/uv ] || [ "$(.venv-lock/bin/uv --version)" != "uv $UV_VERSION" ]; then
    python3 -m venv .venv-lock
    .venv-lock/bin/python -m pip install --quiet "uv==$UV_VERSION"
fi
compile() {
    .venv-lock/bin/uv pip compile --quiet --upgrade --generate-hashes \
        --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
        --custom-compile-command "bash scripts/lock.sh" "$@"
}
compile pyproject.toml --extra test -o requirements/test.txt
compile pyproject.toml --extra bench -c requirements/test.txt -o requirements/bench.txt

# Each npm lock is resolved anew from its package.json, without installing anything (the
# native builds happen in `npm ci` later).
for dir in tests/interop/node clients/web bench/peers/node scripts/n8n; do
    rm -f "$dir/package-lock.json"
    (cd "$dir" && npm install --package-lock-only --no-audit --no-fund --loglevel=error)
done
