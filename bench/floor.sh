#!/bin/sh
# The floor under an unchanged iteration: the least a hand-written loop must do to reach the same verdict.
# Hash the build context, three HTTP requests (the registry's manifest for the input tag, the engine's state of
# the container, the service's /health) and one minimal WebSocket exchange (a hand-minted HS256 JWT in the query,
# one message sent, five events read). No interpreter of loopctl's; curl, openssl and node's built-in WebSocket.
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

b64() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
now=$(date +%s)
header=$(printf '{"alg":"HS256","typ":"JWT"}' | b64)
claims=$(printf '{"sub":"probe","iat":%d,"exp":%d}' "$now" "$((now + 300))" | b64)
signature=$(printf '%s.%s' "$header" "$claims" | openssl dgst -sha256 -hmac "$secret" -binary | b64)
node --experimental-websocket --no-warnings -e '
const socket = new WebSocket(process.argv[1]);
const seen = [];
const fail = (why) => { console.error(why); process.exit(1); };
setTimeout(() => fail("no five events within 30 s"), 30000).unref();
socket.onopen = () => socket.send(JSON.stringify({type: "user_message", payload: {content: "hello"}}));
socket.onmessage = (event) => {
  seen.push(JSON.parse(event.data).type);
  if (seen.length === 5) { console.log(seen.join(" ")); process.exit(0); }
};
socket.onerror = () => fail("websocket error");
socket.onclose = (event) => fail(`closed ${event.code} after ${seen.length} events`);
' "ws://127.0.0.1:$port/ws?token=$header.$claims.$signature"
