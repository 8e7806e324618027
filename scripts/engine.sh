#!/usr/bin/env bash
# Make a Docker Engine reachable for loopctl's tests and demo, or stop the one we started.
#
#   scripts/engine.sh up       reuse a working engine (DOCKER_HOST honoured), else start dockerd
#   scripts/engine.sh down     stop dockerd only if .cache/run/dockerd.pid says we started it
#   scripts/engine.sh status   say what answers and who started it
#
# dockerd runs with its default socket (/var/run/docker.sock) and data root (/var/lib/docker),
# so images built or imported once survive between clones on the same machine.
set -euo pipefail
TOOL=engine
# shellcheck source=scripts/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUN_DIR="$ROOT/.cache/run"
PIDFILE="$RUN_DIR/dockerd.pid"
LOG="$RUN_DIR/dockerd.log"
READY_TIMEOUT_S=30
STOP_TIMEOUT_S=40
DEFAULT_HOST="unix:///var/run/docker.sock"
# dockerd's own pidfile and the one of the containerd it starts when none runs.
DOCKERD_PIDFILE=/var/run/docker.pid
MANAGED_CONTAINERD_PIDFILE=/var/run/docker/containerd/containerd.pid
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

engine_ok() {
  command -v docker >/dev/null 2>&1 && timeout 10 docker info >/dev/null 2>&1
}

wait_gone() {  # pid seconds
  local pid=$1 deadline=$((SECONDS + $2))
  while alive "$pid"; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}

# Pids whose session id is one of the arguments (read from /proc: procps may be missing).
session_members() {
  local f fields sid want
  for f in /proc/[0-9]*/stat; do
    fields="$(sed -e 's/^.*) //' "$f" 2>/dev/null)" || continue
    sid="$(echo "$fields" | cut -d' ' -f4)"  # after the name: state ppid pgrp session
    for want in "$@"; do
      if [ "$sid" = "$want" ]; then f="${f#/proc/}"; echo "${f%/stat}"; fi
    done
  done
}

stop_pid() {  # pid name seconds: TERM, wait, then KILL
  local pid=$1 name=$2 secs=$3
  alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  if ! wait_gone "$pid" "$secs"; then
    say "$name (pid $pid) still running after ${secs}s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    wait_gone "$pid" 5 || die "$name (pid $pid) survived SIGKILL"
  fi
}

server_summary() {
  timeout 10 docker info --format \
    'server {{.ServerVersion}}, storage driver {{.Driver}}, data root {{.DockerRootDir}}, cgroup {{.CgroupDriver}} v{{.CgroupVersion}}' \
    2>/dev/null || echo "server details unavailable"
}

wait_ready() {  # pid-to-watch: poll docker info until it answers, the pid dies, or time runs out
  local pid=$1 deadline=$((SECONDS + READY_TIMEOUT_S))
  until engine_ok; do
    if [ -n "$pid" ] && ! alive "$pid"; then
      echo "--- last lines of $LOG ---" >&2
      tail -n 20 "$LOG" >&2 || true
      die "dockerd (pid $pid) exited before answering; see $LOG"
    fi
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.5
  done
}

# /run is not always a tmpfs: a dockerd or containerd killed earlier leaves pidfiles whose pid
# may now belong to something else, and dockerd would then refuse to start or wait for a
# containerd that is not there.
remove_stale_pidfiles() {
  local file name pid
  for file in "$DOCKERD_PIDFILE:dockerd" "$MANAGED_CONTAINERD_PIDFILE:containerd"; do
    name="${file##*:}" file="${file%:*}"
    pid="$(read_pid "$file")"
    [ -e "$file" ] || continue
    if ! alive "$pid" || [ "$(comm_of "$pid")" != "$name" ]; then
      say "removing stale $file (pid ${pid:-none} is not a running $name)"
      rm -f "$file"
    fi
  done
}

start_dockerd() {
  mkdir -p "$RUN_DIR"
  remove_stale_pidfiles
  printf '\n==== %s scripts/engine.sh up: starting dockerd\n' "$(date -Is)" >>"$LOG"
  # setsid: dockerd must outlive this shell and not get the terminal's or make's signals.
  setsid dockerd </dev/null >>"$LOG" 2>&1 &
  local pid=$! started=$SECONDS
  echo "$pid" >"$PIDFILE"
  if ! wait_ready "$pid"; then
    stop_pid "$pid" dockerd 15
    rm -f "$PIDFILE"
    tail -n 20 "$LOG" >&2 || true
    die "dockerd did not answer 'docker info' within ${READY_TIMEOUT_S}s; see $LOG"
  fi
  # dockerd writes its own pidfile; prefer it in case setsid had to fork.
  local real
  real="$(read_pid "$DOCKERD_PIDFILE")"
  if [ -n "$real" ] && [ "$real" != "$pid" ] && [ "$(comm_of "$real")" = dockerd ]; then
    echo "$real" >"$PIDFILE"
    pid=$real
  fi
  say "started dockerd (pid $pid) in $((SECONDS - started))s: $(server_summary); log $LOG"
}

cmd_up() {
  if engine_ok; then
    say "reusing the Docker Engine at ${DOCKER_HOST:-$DEFAULT_HOST} ($(server_summary)); starting nothing"
    return 0
  fi
  case "${DOCKER_HOST:-$DEFAULT_HOST}" in
    "$DEFAULT_HOST" | unix:///run/docker.sock) ;;
    *) die "DOCKER_HOST=$DOCKER_HOST does not answer 'docker info': start that engine, or unset DOCKER_HOST so this script can start a local dockerd" ;;
  esac
  if ! is_root_debian; then
    die "no Docker Engine answers at $DEFAULT_HOST and this is not root on Debian: start dockerd yourself (or set DOCKER_HOST), or run 'sudo scripts/engine.sh up'"
  fi
  if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
    apt_install docker.io
  fi

  local ours theirs
  ours="$(read_pid "$PIDFILE")"
  theirs="$(read_pid "$DOCKERD_PIDFILE")"
  if alive "$ours" && [ "$(comm_of "$ours")" = dockerd ]; then
    say "dockerd we started (pid $ours) is not answering yet; waiting up to ${READY_TIMEOUT_S}s"
    wait_ready "$ours" || die "dockerd (pid $ours) still not answering; see $LOG, or 'scripts/engine.sh down' and retry"
    say "dockerd (pid $ours) answers: $(server_summary)"
    return 0
  fi
  rm -f "$PIDFILE"
  if alive "$theirs" && [ "$(comm_of "$theirs")" = dockerd ]; then
    say "a dockerd someone else started (pid $theirs) is not answering yet; waiting up to ${READY_TIMEOUT_S}s"
    wait_ready "$theirs" || die "dockerd pid $theirs (not ours) does not answer; stop it or fix it, then retry"
    say "dockerd (pid $theirs, not ours) answers: $(server_summary)"
    return 0
  fi
  start_dockerd
}

cmd_down() {
  local pid containerd_pid
  pid="$(read_pid "$PIDFILE")"
  if [ -z "$pid" ]; then
    say "no $PIDFILE: this checkout did not start the engine; leaving it alone"
    return 0
  fi
  if ! alive "$pid" || [ "$(comm_of "$pid")" != dockerd ]; then
    say "dockerd pid $pid from $PIDFILE is gone; removing the stale pidfile"
    rm -f "$PIDFILE"
    return 0
  fi
  # dockerd stops the containerd it started itself; remember it in case dockerd must be killed.
  containerd_pid="$(read_pid "$MANAGED_CONTAINERD_PIDFILE")"
  say "stopping dockerd (pid $pid)"
  stop_pid "$pid" dockerd "$STOP_TIMEOUT_S"
  if alive "$containerd_pid" && [ "$(comm_of "$containerd_pid")" = containerd ]; then
    say "stopping the containerd dockerd started (pid $containerd_pid)"
    stop_pid "$containerd_pid" containerd 15
  fi
  # Anything still alive in dockerd's or its containerd's session (setsid made dockerd a
  # session leader; containerd and its shims start their own) was started by us.
  local p
  for p in $(session_members "$pid" "${containerd_pid:-none}"); do
    if [ "$p" = "$pid" ] || [ "$p" = "$containerd_pid" ] || ! alive "$p"; then continue; fi
    say "stopping leftover $(comm_of "$p") (pid $p)"
    stop_pid "$p" "$(comm_of "$p")" 10
  done
  rm -f "$PIDFILE"
  say "dockerd stopped"
}

cmd_status() {
  local pid
  pid="$(read_pid "$PIDFILE")"
  if engine_ok; then
    say "answering at ${DOCKER_HOST:-$DEFAULT_HOST}: $(server_summary)"
  else
    say "no engine answers at ${DOCKER_HOST:-$DEFAULT_HOST}"
  fi
  if alive "$pid"; then say "started by this checkout: dockerd pid $pid"; else say "not started by this checkout"; fi
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  *) die "usage: scripts/engine.sh up|down|status" ;;
esac
