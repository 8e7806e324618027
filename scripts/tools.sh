#!/usr/bin/env bash
# Command-line tools the tests run besides Python: Node.js (a real Node server's stack traces, the MCP Inspector's
# CLI), git, and a Compose CLI (the compose deploy target: Debian's docker-compose unless the plugin is there); then every pinned npm package set under tests/fixtures/ (a package-lock.json), into .cache/npm/.
set -euo pipefail
TOOL=tools
# shellcheck source=scripts/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

missing=()
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
command -v git >/dev/null 2>&1 || missing+=(git)
if ! command -v docker-compose >/dev/null 2>&1 && ! docker compose version >/dev/null 2>&1; then
  missing+=(docker-compose)
fi
if [ "${#missing[@]}" -gt 0 ]; then
  is_root_debian || die "missing ${missing[*]}: install them (apt-get install ${missing[*]}) and run make again"
  apt_install "${missing[@]}"
fi
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
find "$ROOT/tests/fixtures" -name package-lock.json -not -path '*/node_modules/*' | sort | while read -r lock; do
  "$ROOT/scripts/npm-packages.sh" "$(dirname "$lock")" >/dev/null
done
