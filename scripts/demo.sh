#!/usr/bin/env bash
# `make demo`: start the sample agent service on 127.0.0.1:8080 and run one iteration on config.yaml.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
mkdir -p .cache/run
export DEMO_JWT_SECRET="${DEMO_JWT_SECRET:-$($BIN/python -c 'import secrets; print(secrets.token_hex(16))')}"

if $BIN/python - <<'PY'
import socket, sys
with socket.socket() as probe:
    sys.exit(0 if probe.connect_ex(("127.0.0.1", 8080)) == 0 else 1)
PY
then
  echo "demo: something already listens on 127.0.0.1:8080; stop it and run make demo again" >&2
  exit 1
fi

PYTHONPATH=examples/agent-service HOST=127.0.0.1 PORT=8080 JWT_SECRET="$DEMO_JWT_SECRET" FAULT="${FAULT:-}" \
  $BIN/python -m agent_service > .cache/run/demo-service.log 2>&1 &
service=$!
trap 'kill $service 2>/dev/null; wait $service 2>/dev/null || true' EXIT
for _ in $(seq 50); do
  grep -q "listening on" .cache/run/demo-service.log 2>/dev/null && break
  sleep 0.1
done

status=0
$BIN/loopctl iterate --config config.yaml || status=$?
latest=$(ls iterations/[0-9]*.md 2>/dev/null | tail -n 1)
if [ -n "$latest" ]; then
  echo
  echo "---- $latest ----"
  sed -n '1,40p' "$latest"
fi
exit $status
