#!/usr/bin/env bash
# The MCP Inspector's CLI (an MCP client independent of loopctl's SDK), from npm into .cache/mcp-inspector.
# Pinned to 0.15.0: the newest release that asks for no Node.js >= 22 (later ones declare >= 22.7.5).
set -euo pipefail
TOOL=inspector
# shellcheck source=scripts/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

VERSION=0.15.0
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFIX="$ROOT/.cache/mcp-inspector"
BIN="$PREFIX/node_modules/.bin/mcp-inspector"
STAMP="$PREFIX/.installed-$VERSION"

if [ -x "$BIN" ] && [ -e "$STAMP" ]; then
  exit 0
fi
command -v npm >/dev/null 2>&1 || die "npm is missing: run scripts/tools.sh (it installs Node.js and npm)"
say "installing @modelcontextprotocol/inspector@$VERSION into $PREFIX"
mkdir -p "$PREFIX"
npm install --prefix "$PREFIX" --no-audit --no-fund --loglevel=error "@modelcontextprotocol/inspector@$VERSION"
touch "$STAMP"
