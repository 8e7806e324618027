#!/usr/bin/env bash
# Create the project's virtualenv; on Debian as root, install python3-venv first if it is missing.
set -euo pipefail
python=${1:-python3}
venv=${2:-.venv}
if [ -x "$venv/bin/python" ]; then exit 0; fi
if ! "$python" -c "import ensurepip, venv" 2>/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "loopctl: installing python3-venv (needed to create $venv)" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
  else
    echo "loopctl: $python cannot create a virtualenv; install python3-venv (Debian/Ubuntu) and retry" >&2
    exit 1
  fi
fi
"$python" -m venv "$venv"
