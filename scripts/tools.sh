#!/usr/bin/env bash
# Command-line tools the tests run besides Python: Node.js (a real Node server's stack traces) and git.
set -euo pipefail
TOOL=tools
# shellcheck source=scripts/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

missing=()
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v git >/dev/null 2>&1 || missing+=(git)
if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi
is_root_debian || die "missing ${missing[*]}: install them (apt-get install ${missing[*]}) and run make again"
apt_install "${missing[@]}"
