# Shared by the scripts that bring up the real parts: messages, apt installs, process checks.
# Each script sets TOOL (its name in messages) before sourcing this file.
# shellcheck shell=bash

say() { printf '%s: %s\n' "$TOOL" "$*"; }
die() { printf '%s: %s\n' "$TOOL" "$*" >&2; exit 1; }

is_root_debian() {
  [ "$(id -u)" -eq 0 ] && [ -r /etc/debian_version ] && command -v apt-get >/dev/null 2>&1
}

apt_install() {
  say "installing $* (apt-get)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
}

# A pid counts as alive when it exists and is not a zombie waiting for init to reap it.
alive() {
  local pid=$1 state
  [ -n "$pid" ] && [ -r "/proc/$pid/stat" ] || return 1
  state="$(sed -e 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)"
  [ -n "$state" ] && [ "$state" != Z ]
}

comm_of() { cat "/proc/$1/comm" 2>/dev/null || true; }

read_pid() {
  if [ -r "$1" ]; then tr -dc '0-9' <"$1"; fi
}
