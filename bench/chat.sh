#!/bin/sh
# One minimal WebSocket exchange with the sample service, as a hand-written script does it: an HS256 JWT minted
# with openssl, sent as `?token=`, one user message, the five events read with node's built-in WebSocket client.
# Prints the events' types on one line; exits 1 when fewer than five arrive.
# Usage: chat.sh PORT SECRET
set -eu
port=$1 secret=$2
b64() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
now=$(date +%s)
header=$(printf '{"alg":"HS256","typ":"JWT"}' | b64)
claims=$(printf '{"sub":"probe","iat":%d,"exp":%d}' "$now" "$((now + 300))" | b64)
signature=$(printf '%s.%s' "$header" "$claims" | openssl dgst -sha256 -hmac "$secret" -binary | b64)
exec node --experimental-websocket --no-warnings -e '
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
