#!/usr/bin/env bash
# Make a Docker registry answer on 127.0.0.1:PORT (default 5000), or stop the one we started.
#
#   scripts/registry.sh up [PORT]       reuse whatever answers GET /v2/, else start docker-registry
#   scripts/registry.sh down [PORT]     stop it only if .cache/run/registry-PORT.pid says we started it
#   scripts/registry.sh status [PORT]
#
# Blobs live in .cache/registry/data, so pushed images survive a down/up.
set -euo pipefail
TOOL=registry
# shellcheck source=scripts/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUN_DIR="$ROOT/.cache/run"
REG_DIR="$ROOT/.cache/registry"
READY_TIMEOUT_S=30
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

# HTTP status of GET /v2/ on 127.0.0.1:PORT, or nothing when no one answers. Plain bash, so it
# works before curl or python is installed.
v2_status() {
  # shellcheck disable=SC2016  # expanded by the inner bash
  timeout 3 bash -c '
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf "GET /v2/ HTTP/1.0\r\nHost: 127.0.0.1:%s\r\nConnection: close\r\n\r\n" "$1" >&3
    IFS=" " read -r _ code _ <&3 && printf "%s\n" "$code"
  ' _ "$1" 2>/dev/null || true
}

# 200, or 401 when the registry wants credentials, is a registry; anything else is not.
is_registry_status() { [ "$1" = 200 ] || [ "$1" = 401 ]; }

write_config() {  # port config
  mkdir -p "$REG_DIR/data"
  cat >"$2" <<EOF
# Written by scripts/registry.sh; regenerated on every start.
version: 0.1
log:
  level: info
  fields:
    service: registry
storage:
  filesystem:
    rootdirectory: $REG_DIR/data
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: 127.0.0.1:$1
  headers:
    X-Content-Type-Options: [nosniff]
EOF
}

wait_ready() {  # port pid log
  local port=$1 pid=$2 log=$3 deadline=$((SECONDS + READY_TIMEOUT_S)) code
  while :; do
    code="$(v2_status "$port")"
    is_registry_status "$code" && return 0
    if ! alive "$pid"; then
      tail -n 20 "$log" >&2 || true
      die "docker-registry (pid $pid) exited before answering on 127.0.0.1:$port; see $log"
    fi
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}

cmd_up() {
  local port=$1 pidfile="$RUN_DIR/registry-$1.pid" log="$RUN_DIR/registry-$1.log" code pid config
  code="$(v2_status "$port")"
  if is_registry_status "$code"; then
    say "reusing the registry at 127.0.0.1:$port (GET /v2/ -> $code); starting nothing"
    return 0
  fi
  [ -z "$code" ] || die "127.0.0.1:$port answers GET /v2/ with HTTP $code: not a registry; free the port or pick another: scripts/registry.sh up PORT"

  pid="$(read_pid "$pidfile")"
  if alive "$pid" && [ "$(comm_of "$pid")" = docker-registry ]; then
    say "docker-registry we started (pid $pid) is not answering yet; waiting"
    wait_ready "$port" "$pid" "$log" || die "docker-registry (pid $pid) does not answer; see $log"
    say "docker-registry (pid $pid) answers on 127.0.0.1:$port"
    return 0
  fi
  rm -f "$pidfile"

  if ! command -v docker-registry >/dev/null 2>&1; then
    is_root_debian || die "docker-registry is not installed: install Debian's docker-registry package (as root: apt-get install docker-registry), then retry"
    apt_install docker-registry
  fi
  mkdir -p "$RUN_DIR"
  # One config per port so two registries never rewrite each other's file; 5000 keeps config.yml.
  config="$REG_DIR/config.yml"
  [ "$port" = 5000 ] || config="$REG_DIR/config-$port.yml"
  write_config "$port" "$config"

  printf '\n==== %s scripts/registry.sh up %s\n' "$(date -Is)" "$port" >>"$log"
  local started=$SECONDS
  setsid docker-registry serve "$config" </dev/null >>"$log" 2>&1 &
  pid=$!
  echo "$pid" >"$pidfile"
  if ! wait_ready "$port" "$pid" "$log"; then
    kill -TERM "$pid" 2>/dev/null || true
    rm -f "$pidfile"
    die "docker-registry did not answer on 127.0.0.1:$port within ${READY_TIMEOUT_S}s; see $log"
  fi
  say "started docker-registry (pid $pid) on 127.0.0.1:$port in $((SECONDS - started))s; data $REG_DIR/data, log $log"
}

cmd_down() {
  local port=$1 pidfile="$RUN_DIR/registry-$1.pid" pid deadline
  pid="$(read_pid "$pidfile")"
  if [ -z "$pid" ]; then
    say "no $pidfile: this checkout did not start a registry on port $port; leaving it alone"
    return 0
  fi
  if alive "$pid" && [ "$(comm_of "$pid")" = docker-registry ]; then
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + 15))
    while alive "$pid" && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
    if alive "$pid"; then
      say "docker-registry (pid $pid) ignored SIGTERM; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    say "stopped docker-registry (pid $pid) on 127.0.0.1:$port"
  else
    say "docker-registry pid $pid from $pidfile is gone; removing the stale pidfile"
  fi
  rm -f "$pidfile"
}

cmd_status() {
  local port=$1 code pid
  code="$(v2_status "$port")"
  pid="$(read_pid "$RUN_DIR/registry-$port.pid")"
  if [ -n "$code" ]; then say "127.0.0.1:$port answers GET /v2/ with HTTP $code"; else say "nothing answers on 127.0.0.1:$port"; fi
  if alive "$pid"; then say "started by this checkout: pid $pid"; else say "not started by this checkout"; fi
}

action="${1:-}"
port="${2:-5000}"
case "$port" in
  '' | *[!0-9]*) die "PORT must be a number, got '$port'" ;;
esac
case "$action" in
  up) cmd_up "$port" ;;
  down) cmd_down "$port" ;;
  status) cmd_status "$port" ;;
  *) die "usage: scripts/registry.sh up|down|status [PORT]" ;;
esac
