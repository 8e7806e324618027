#!/usr/bin/env bash
# `make demo`: bring up the real parts, then run one iteration of the repo's own loop (config.yaml).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
mkdir -p .cache
# The demo's JWT secret: made once, kept out of git, shared by the deployed service and the probe.
if [ -z "${DEMO_JWT_SECRET:-}" ]; then
  [ -s .cache/demo-jwt-secret ] || $BIN/python -c 'import secrets; print(secrets.token_hex(16))' > .cache/demo-jwt-secret
  DEMO_JWT_SECRET=$(cat .cache/demo-jwt-secret)
fi
export DEMO_JWT_SECRET

scripts/engine.sh up
scripts/registry.sh up
scripts/base-image.sh

status=0
$BIN/loopctl iterate --config config.yaml "$@" || status=$?
latest=$(ls iterations/[0-9]*.md 2>/dev/null | tail -n 1)
if [ -n "$latest" ]; then
  echo
  echo "---- $latest (first 40 lines; the whole report: .venv/bin/loopctl report) ----"
  sed -n '1,40p' "$latest"
fi
exit $status
