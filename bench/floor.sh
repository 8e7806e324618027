#!/bin/sh
# The floor under an unchanged iteration: the least a hand-written loop must do to reach the same verdict.
# Hash the build context, three HTTP requests (the registry's manifest for the input tag, the engine's state of
# the container, the service's /health) and one minimal WebSocket exchange (chat.sh). No Python: sha256sum,
# curl, openssl and node's built-in WebSocket.
# Usage: floor.sh CONTEXT REGISTRY REPOSITORY TAG CONTAINER PORT SECRET   (DOCKER_HOST=unix://... honoured)
set -eu
context=$1 registry=$2 repository=$3 tag=$4 container=$5 port=$6 secret=$7
socket=${DOCKER_HOST:-unix:///var/run/docker.sock}
socket=${socket#unix://}

(cd "$context" && find . -type f -print0 | sort -z | xargs -0 sha256sum) | sha256sum >/dev/null

curl -fsS -o /dev/null -I -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
  "http://$registry/v2/$repository/manifests/$tag"
curl -fsS --unix-socket "$socket" "http://localhost/containers/$container/json" | grep -q '"Running":true'
curl -fsS -o /dev/null "http://127.0.0.1:$port/health"

sh "$(dirname "$0")/chat.sh" "$port" "$secret"
