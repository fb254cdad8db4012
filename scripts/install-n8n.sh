#!/usr/bin/env bash
# Installs the n8n the tests in tests/n8n/ run against into DIR (outside the repository),
# and prints the path of its `n8n` command, for YELLOWBOX_N8N_BIN.
#
#   bash scripts/install-n8n.sh "$HOME/.cache/yellowbox-n8n"
#
# n8n 1.123.x is the newest line that runs on Node.js 20. Two overrides keep the install on
# the npm registry alone: xlsx is otherwise a tarball from cdn.sheetjs.com, and isolated-vm 6
# needs Node.js 22 (5.0.4 builds against Node.js 20). isolated-vm and sqlite3 are compiled
# from source (their prebuilt binaries come from GitHub): a C++ toolchain and Python are
# needed, and on two cores it takes about nine minutes and 1.8 GB.
set -euo pipefail

N8N_VERSION="1.123.81"
dir="${1:?usage: install-n8n.sh DIR}"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
binary="$dir/node_modules/.bin/n8n"

if [ -x "$binary" ] && [ "$(node -p "require('$dir/node_modules/n8n/package.json').version" 2>/dev/null)" = "$N8N_VERSION" ]; then
    echo "$binary"
    exit 0
fi

cat > "$dir/package.json" <<JSON
{
  "name": "yellowbox-n8n-for-tests",
  "private": true,
  "dependencies": {"n8n": "$N8N_VERSION"},
  "overrides": {"xlsx": "0.18.5", "isolated-vm": "5.0.4"}
}
JSON
(cd "$dir" && npm install --no-audit --no-fund --loglevel=error >&2)
test -x "$binary"
echo "$binary"
