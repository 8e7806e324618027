#!/usr/bin/env bash
# Pinned npm packages for the tests: `scripts/npm-packages.sh DIR` installs DIR's package-lock.json with `npm ci`
# into the git-ignored .cache/npm/ once and prints the node_modules folder it made. The folder is named after DIR
# and a hash of its package files, so a changed lock installs afresh; it appears whole (installed aside, then
# renamed), so a run that stopped half-way or ran at the same time leaves no half-installed folder behind.
set -euo pipefail
TOOL=npm-packages
# shellcheck source=scripts/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

[ "$#" -eq 1 ] && [ -f "$1/package-lock.json" ] || die "usage: $0 DIR (a folder with package.json and package-lock.json)"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SOURCE="$(cd "$1" && pwd)"
HASH="$(cat "$SOURCE/package.json" "$SOURCE/package-lock.json" | sha256sum | cut -c1-12)"
PREFIX="$ROOT/.cache/npm/$(basename "$SOURCE")-$HASH"

if [ ! -d "$PREFIX" ]; then
  command -v npm >/dev/null 2>&1 || die "npm is missing: run scripts/tools.sh (it installs Node.js and npm)"
  say "installing ${SOURCE#"$ROOT"/}/package-lock.json into ${PREFIX#"$ROOT"/}" >&2
  mkdir -p "$ROOT/.cache/npm"
  ASIDE="$(mktemp -d "$ROOT/.cache/npm/.installing-XXXXXX")"
  trap 'rm -rf "$ASIDE"' EXIT
  chmod 755 "$ASIDE"
  cp "$SOURCE/package.json" "$SOURCE/package-lock.json" "$ASIDE/"
  npm ci --prefix "$ASIDE" --no-audit --no-fund --loglevel=error >&2
  mv -T "$ASIDE" "$PREFIX" 2>/dev/null || true  # another run may have got there first: its folder serves
fi
printf '%s\n' "$PREFIX/node_modules"
