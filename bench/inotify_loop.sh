#!/bin/sh
# The yardstick for `loopctl loop`: a hand-written loop that waits on inotify, then builds, pushes, replaces the
# container, waits for /health, chats once (chat.sh) and writes a report. No debounce: it starts on the first
# event. inotifywait's "Watches established." on stderr says when an edit will be seen.
# Usage: inotify_loop.sh CONTEXT REPOSITORY CONTAINER HOST_PORT SECRET REPORTS BASE_IMAGE
set -eu
context=$1 repository=$2 container=$3 port=$4 secret=$5 reports=$6 base=$7
here=$(dirname "$0")
number=0
export DOCKER_BUILDKIT=0 JWT_SECRET="$secret"  # the classic builder, as loopctl's SDK build uses
while inotifywait -r -e close_write,moved_to,create,delete "$context" >/dev/null; do
  number=$((number + 1))
  docker build -q -t "$repository:raw-$number" --platform linux/amd64 --build-arg "BASE_IMAGE=$base" \
    "$context" >/dev/null
  digest=$(docker push "$repository:raw-$number" | sed -n 's/.*digest: \(sha256:[0-9a-f]*\).*/\1/p')
  docker rm -f "$container" >/dev/null
  docker run -d --name "$container" -p "127.0.0.1:$port:8080" -e JWT_SECRET -e PORT=8080 \
    "$repository@$digest" >/dev/null
  until curl -fs -o /dev/null "http://127.0.0.1:$port/health"; do sleep 0.05; done
  events=$(sh "$here/chat.sh" "$port" "$secret")
  printf '# iteration %d\n\nimage: %s@%s\nevents: %s\n' "$number" "$repository" "$digest" "$events" \
    >"$reports/.report.tmp"
  mv "$reports/.report.tmp" "$reports/$number.md"
done
