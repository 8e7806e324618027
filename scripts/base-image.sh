#!/usr/bin/env bash
# Make sure the engine has loopctl-base:bookworm, a Debian bookworm image with python3 and
# python3-websockets. No image registry is reachable here, so it is built from Debian's
# packages: debootstrap into .cache/base-rootfs, then `docker import`.
#
#   scripts/base-image.sh             reuse the image if the engine has it, else build it
#   scripts/base-image.sh --rebuild   build it even if present
#   scripts/base-image.sh --print-mirror   print the Debian mirror debootstrap would use
#
# The Debian mirror is read from this machine's apt sources (or $DEBIAN_MIRROR if set).
set -euo pipefail
TOOL=base-image
# shellcheck source=scripts/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
IMAGE="${LOOPCTL_BASE_IMAGE:-loopctl-base:bookworm}"
SUITE=bookworm
ROOTFS="$ROOT/.cache/base-rootfs"
PACKAGES=python3-minimal,python3-websockets
IMAGE_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# Print "score uri" for every deb source: 2 = serves $SUITE itself, 1 = serves some plain
# release (a mirror of the main archive, which also has $SUITE), 0 = security/updates/other.
apt_source_candidates() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -r "$f" ] || continue
    awk -v want="$SUITE" '
      { sub(/#.*/, "") }
      $1 != "deb" { next }
      {
        i = 2
        if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
        uri = $i; suite = $(i + 1)
        score = (suite == want) ? 2 : (suite ~ /^[a-z]+$/ ? 1 : 0)
        print score, uri
      }' "$f"
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] || continue
    awk -v want="$SUITE" '
      function flush(   n, u, s, i, j, best, score) {
        if (types ~ /(^| )deb( |$)/ && tolower(enabled) != "no") {
          best = 0
          n = split(suites, s, " ")
          for (j = 1; j <= n; j++) {
            score = (s[j] == want) ? 2 : (s[j] ~ /^[a-z]+$/ ? 1 : 0)
            if (score > best) best = score
          }
          n = split(uris, u, " ")
          for (i = 1; i <= n; i++) print best, u[i]
        }
        types = uris = suites = enabled = key = ""
      }
      /^[ \t]*#/ { next }
      /^[ \t]*$/ { flush(); next }
      /^[ \t]/ { val = $0; gsub(/^[ \t]+|[ \t]+$/, "", val)
                 if (key == "types") types = types " " val
                 if (key == "uris") uris = uris " " val
                 if (key == "suites") suites = suites " " val
                 next }
      {
        key = tolower($0); sub(/:.*/, "", key)
        val = $0; sub(/^[^:]*:[ \t]*/, "", val); sub(/[ \t]+$/, "", val)
        if (key == "types") types = val
        else if (key == "uris") uris = val
        else if (key == "suites") suites = val
        else if (key == "enabled") enabled = val
      }
      END { flush() }' "$f"
  done
}

debian_mirror() {
  if [ -n "${DEBIAN_MIRROR:-}" ]; then echo "$DEBIAN_MIRROR"; return; fi
  local best
  best="$(apt_source_candidates | awk '$1 > 0' | sort -s -k1,1nr | head -n 1 | cut -d' ' -f2)"
  [ -n "$best" ] || die "no Debian archive found in /etc/apt/sources.list{,.d/} serving $SUITE; set DEBIAN_MIRROR=<url>"
  echo "${best%/}"
}

# debootstrap mounts /proc and /sys inside the target; a run that died can leave them mounted,
# and rm -rf must never walk into them.
remove_rootfs() {
  [ -e "$ROOTFS" ] || return 0
  local m
  awk -v d="$ROOTFS" 'index($2, d "/") == 1 { print $2 }' /proc/self/mounts | sort -r |
    while read -r m; do umount -l "$m" 2>/dev/null || true; done
  rm -rf --one-file-system "$ROOTFS"
}

image_id() { docker image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true; }

verify() {
  local t0 version
  t0="$(now)"
  version="$(docker run --rm --network none "$IMAGE" python3 -c 'import websockets; print(websockets.__version__)')" ||
    die "$IMAGE does not run python3 with websockets"
  say "verified in $(since "$t0")s: docker run --rm $IMAGE python3 -c 'import websockets' -> websockets $version"
}

build() {
  is_root_debian || die "building $IMAGE needs root on Debian (debootstrap); run 'sudo scripts/base-image.sh'"
  command -v debootstrap >/dev/null 2>&1 || apt_install debootstrap
  local mirror t0 t1 keyring=()
  mirror="$(debian_mirror)"
  [ -r /usr/share/keyrings/debian-archive-keyring.gpg ] &&
    keyring=(--keyring=/usr/share/keyrings/debian-archive-keyring.gpg)

  remove_rootfs
  trap remove_rootfs EXIT
  mkdir -p "$(dirname "$ROOTFS")"
  say "debootstrap --variant=minbase --include=$PACKAGES $SUITE from $mirror"
  t0="$(now)"
  debootstrap --variant=minbase --include="$PACKAGES" "${keyring[@]}" "$SUITE" "$ROOTFS" "$mirror" \
    >"$ROOT/.cache/base-rootfs.log" 2>&1 ||
    { tail -n 30 "$ROOT/.cache/base-rootfs.log" >&2; die "debootstrap failed; full log in .cache/base-rootfs.log"; }
  say "debootstrap took $(since "$t0")s"

  # Nothing in the image reads apt's caches, manuals or translations (~50 MB); copyright files
  # stay. `python` is what many Dockerfiles call.
  rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/log/*.log \
    "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/locale/* "$ROOTFS"/usr/share/info/*
  find "$ROOTFS/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  find "$ROOTFS/usr/share/doc" -mindepth 1 -type d -empty -delete
  [ -e "$ROOTFS/usr/local/bin/python" ] || ln -s /usr/bin/python3 "$ROOTFS/usr/local/bin/python"

  t1="$(now)"
  tar --numeric-owner -C "$ROOTFS" -c . |
    docker import \
      --change 'CMD ["python3"]' \
      --change "ENV PATH=$IMAGE_PATH" \
      --change 'ENV LANG=C.UTF-8' \
      --change 'ENV PYTHONDONTWRITEBYTECODE=1' \
      --change 'ENV PYTHONUNBUFFERED=1' \
      --change "LABEL org.opencontainers.image.description=\"Debian $SUITE minbase with $PACKAGES, made by loopctl scripts/base-image.sh\"" \
      --message "debootstrap $SUITE minbase + $PACKAGES" \
      - "$IMAGE" >/dev/null
  say "docker import took $(since "$t1")s: $IMAGE $(image_id) ($(docker image inspect --format '{{.Size}}' "$IMAGE" | awk '{ printf "%.0f MB", $1 / 1e6 }'))"
  remove_rootfs
  trap - EXIT
}

main() {
  local rebuild=0
  case "${1:-}" in
    "") ;;
    --rebuild) rebuild=1 ;;
    --print-mirror) debian_mirror; return 0 ;;
    *) die "usage: scripts/base-image.sh [--rebuild|--print-mirror]" ;;
  esac
  if ! command -v docker >/dev/null 2>&1 || ! timeout 10 docker info >/dev/null 2>&1; then
    die "no Docker Engine answers at ${DOCKER_HOST:-unix:///var/run/docker.sock}; run scripts/engine.sh up first"
  fi

  # Two checkouts on one machine share the engine: build the image once, not twice at the same time.
  exec 9>"${TMPDIR:-/tmp}/loopctl-base-image.lock"
  flock 9

  local id started
  id="$(image_id)"
  if [ -n "$id" ] && [ "$rebuild" -eq 0 ]; then
    say "reusing $IMAGE ($id)"
    return 0
  fi
  started="$(now)"
  build
  # A rebuild leaves the previous image untagged: drop it unless a container still uses it.
  if [ -n "$id" ] && [ "$id" != "$(image_id)" ]; then docker image rm "$id" >/dev/null 2>&1 || true; fi
  verify
  say "$IMAGE ready in $(since "$started")s"
}

main "$@"
