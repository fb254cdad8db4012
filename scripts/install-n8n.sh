#!/usr/bin/env bash
# Installs the n8n the tests in tests/n8n/ run against into DIR (outside the repository),
# and prints the path of its `n8n` command, for YELLOWBOX_N8N_BIN.
#
#   bash scripts/install-n8n.sh "$HOME/.cache/yellowbox-n8n"
#
# What is installed is scripts/n8n/package-lock.json, with `npm ci`: every one of its ~1,900
# packages at the version and integrity hash the lock names (refresh it with scripts/lock.sh).
# n8n 1.123.x is the newest line that runs on Node.js 20. The manifest's two overrides keep
# the install on the npm registry alone: xlsx is otherwise a tarball from cdn.sheetjs.com, and
# isolated-vm 6 needs Node.js 22 (5.0.4 builds against Node.js 20). isolated-vm and sqlite3
# are compiled from source (their prebuilt binaries come from GitHub): a C++ toolchain and
# Python are needed, and on two cores it takes about nine minutes and 1.8 GB.
set -euo pipefail

manifest="$(cd "$(dirname "$0")/n8n" && pwd)"
dir="${1:?usage: install-n8n.sh DIR}"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
binary="$dir/node_modules/.bin/n8n"
# Written only after a complete install: the hash of the lock that install came from.
stamp="$dir/.installed-lock.sha256"
want="$(sha256sum < "$manifest/package-lock.json")"

if [ -x "$binary" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    echo "$binary"
    exit 0
fi

rm -f "$stamp"
cp "$manifest/package.json" "$manifest/package-lock.json" "$dir/"
(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
test -x "$binary"
echo "$want" > "$stamp"
echo "$binary"
