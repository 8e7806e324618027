#!/usr/bin/env bash
# Command-line tools the tests run besides Python: Node.js (a real Node server's stack traces, the MCP Inspector's
# CLI) and git.
set -euo pipefail
TOOL=tools
# shellcheck source=scripts/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

missing=()
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
command -v git >/dev/null 2>&1 || missing+=(git)
if [ "${#missing[@]}" -gt 0 ]; then
  is_root_debian || die "missing ${missing[*]}: install them (apt-get install ${missing[*]}) and run make again"
  apt_install "${missing[@]}"
fi
"$(dirname "${BASH_SOURCE[0]}")/inspector.sh"
