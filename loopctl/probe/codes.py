"""The tables behind the classifier: close codes, connection failures and HTTP statuses, with hints."""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus


@dataclass(frozen=True)
class CodeInfo:
    """One row of a table: category slug, depth on the ladder, short name, what to look at next."""

    category: str
    depth: int
    label: str
    hint: str


# Words that make an application close code (4000–4999) an auth/policy outcome (depth 2).
APP_AUTH_WORDS = ("auth", "token", "forbid", "permission", "denied", "credential", "login", "policy", "jwt")

_PROCESSING = 3

# RFC 6455 section 7.4.1 and the IANA WebSocket close code registry; names as websockets prints them.
CLOSE_CODES: dict[int, CodeInfo] = {
    1000: CodeInfo(
        "closed_early",
        _PROCESSING,
        "normal closure",
        "The server closed normally before sending what was expected: check the handler's early returns, "
        "that it understood the message sent, and the event names (`event_field`).",
    ),
    1001: CodeInfo(
        "going_away",
        _PROCESSING,
        "going away",
        "The server or an instance went away mid-connection (aiohttp apps close with 1001 on shutdown): check for "
        "deploys or scale-down, and the platform's request timeout (Cloud Run ends streams at the service's timeout).",
    ),
    1002: CodeInfo(
        "protocol_error",
        _PROCESSING,
        "protocol error",
        "A peer broke the WebSocket protocol: check proxies in between and the server's WebSocket library.",
    ),
    1003: CodeInfo(
        "unsupported_data",
        _PROCESSING,
        "unsupported data",
        "The server refused the kind of message (text or binary): check what is sent and what the handler accepts.",
    ),
    1004: CodeInfo(
        "reserved",
        _PROCESSING,
        "reserved",
        "1004 is reserved and must not be sent: check the server's close call.",
    ),
    1005: CodeInfo(
        "no_status",
        _PROCESSING,
        "no status received",
        "The peer's close frame carried no code: make the server close with an explicit code and reason.",
    ),
    1006: CodeInfo(
        "abnormal_closure",
        _PROCESSING,
        "abnormal closure",
        "The server dropped the connection without a close frame; uvicorn, aiohttp and Node do this when the "
        "handler raises: look for a traceback in the server's logs at this time. Otherwise a crash or OOM kill, "
        "the platform's request timeout, or a proxy or load balancer cutting the stream.",
    ),
    1007: CodeInfo(
        "invalid_payload",
        _PROCESSING,
        "invalid frame payload data",
        "The message's data was rejected (invalid UTF-8 or content): check the payload against the parser.",
    ),
    1008: CodeInfo(
        "policy_violation",
        2,
        "policy violation",
        "Authentication or policy rejected the connection: check token validation and the auth middleware "
        "(secret, issuer, audience, expiry, clock skew) and how the token is sent (header, subprotocol, query).",
    ),
    1009: CodeInfo(
        "message_too_big",
        _PROCESSING,
        "message too big",
        "The server refused a message as too big: shrink the payload or raise the server's message size limit "
        "(uvicorn --ws-max-size, 16 MiB by default; aiohttp max_msg_size, 4 MiB).",
    ),
    1010: CodeInfo(
        "mandatory_extension",
        _PROCESSING,
        "mandatory extension",
        "The server requires an extension the client did not negotiate: check the server's extension settings.",
    ),
    1011: CodeInfo(
        "internal_error",
        _PROCESSING,
        "internal error",
        "The server hit an unexpected error while processing the message: read the server's logs at this "
        "time for the exception in the message handler.",
    ),
    1012: CodeInfo(
        "service_restart",
        _PROCESSING,
        "service restart",
        "The server is restarting or shutting down (uvicorn closes open WebSockets with 1012 on SIGTERM: a deploy, "
        "scale-down or reload): probe again once the deploy settles; if it persists, look for a crash loop.",
    ),
    1013: CodeInfo(
        "try_again_later",
        _PROCESSING,
        "try again later",
        "The server is overloaded or rate limiting: check capacity (max instances, concurrency) and limits.",
    ),
    1014: CodeInfo(
        "bad_gateway",
        _PROCESSING,
        "bad gateway",
        "A gateway got a bad answer from the service behind it: check that upstream service.",
    ),
    1015: CodeInfo(
        "tls_error",
        0,
        "TLS handshake failure",
        "TLS failed: check the certificate chain, the host name and the CA bundle.",
    ),
    3000: CodeInfo(
        "unauthorized",
        2,
        "unauthorized",
        "The server says the client is not authenticated: check that a valid token is sent.",
    ),
    3003: CodeInfo(
        "forbidden",
        2,
        "forbidden",
        "Authenticated but not allowed: check the token's claims or scopes and the server's permission checks.",
    ),
    3008: CodeInfo(
        "server_timeout",
        _PROCESSING,
        "timeout",
        "The server timed out waiting on something: check its timeouts and slow dependencies.",
    ),
}

# Codes that are never sent in a close frame: a library reports them locally.
NEVER_ON_WIRE: dict[int, str] = {
    1005: "the close frame carried no status code (1005 is never sent on the wire)",
    1006: "the connection dropped without a close frame (1006 is never sent on the wire)",
    1015: "the TLS handshake failed (1015 is never sent on the wire)",
}

# Closes the probe itself started: never to be confused with the server's own codes.
CLIENT_CLOSE: dict[int, CodeInfo] = {
    1011: CodeInfo(
        "keepalive_timeout",
        _PROCESSING,
        "keepalive ping timeout",
        "The server stopped answering pings: its event loop may be blocked by CPU-bound work, or a proxy "
        "stalled the stream. This is not the server's 1011.",
    ),
    1009: CodeInfo(
        "oversized_message",
        _PROCESSING,
        "message too big for the probe",
        "The server sent a message larger than the probe accepts: check what it sends, it may be a dump or a loop.",
    ),
    1007: CodeInfo(
        "invalid_payload",
        _PROCESSING,
        "invalid frame payload data",
        "The server sent invalid data (e.g. a text frame or close reason that is not UTF-8): fix its encoding.",
    ),
    1002: CodeInfo(
        "protocol_error",
        _PROCESSING,
        "protocol error",
        "The server broke the WebSocket protocol: check proxies in between and its WebSocket library.",
    ),
}

CONNECT_FAILURES: dict[str, CodeInfo] = {
    "dns_error": CodeInfo(
        "dns_error",
        0,
        "host name did not resolve",
        "Check the host name in the URL and DNS; for Cloud Run, copy the service URL from the deploy.",
    ),
    "connection_refused": CodeInfo(
        "connection_refused",
        0,
        "connection refused",
        "Nothing listens on that host and port: check the service is running and the port it binds.",
    ),
    "unreachable": CodeInfo(
        "unreachable",
        0,
        "network unreachable",
        "No route to the host: check the address, the network and any firewall.",
    ),
    "connect_timeout": CodeInfo(
        "connect_timeout",
        0,
        "TCP connect timed out",
        "The host did not accept a connection in time: check firewalls, the address and that the service is up.",
    ),
    "tls_error": CodeInfo(
        "tls_error",
        0,
        "TLS handshake failed",
        "Check the certificate (expired, self-signed, wrong host name); name a CA bundle if the service uses a "
        "private CA.",
    ),
    "connection_reset": CodeInfo(
        "connection_reset",
        1,
        "connection reset before the upgrade",
        "The server accepted TCP and then reset it: check that it speaks HTTP on this port (not TLS or gRPC) "
        "and its logs for a crash on connect.",
    ),
    "handshake_timeout": CodeInfo(
        "handshake_timeout",
        1,
        "no answer to the WebSocket upgrade",
        "The server accepted TCP but never answered the HTTP upgrade: check it speaks HTTP on this port and is "
        "not stuck before routing the request.",
    ),
    "invalid_handshake": CodeInfo(
        "invalid_handshake",
        1,
        "invalid answer to the WebSocket upgrade",
        "The server's answer to the upgrade was not a valid WebSocket handshake: check the route serves "
        "WebSocket, the subprotocol it selects and any proxy in between.",
    ),
    "invalid_response": CodeInfo(
        "invalid_response",
        1,
        "invalid HTTP response",
        "The server's answer was not valid HTTP: check it speaks plain HTTP on this port (not TLS or gRPC).",
    ),
    "iam_denied": CodeInfo(
        "iam_denied",
        1,
        "from Google's front end (IAM): the request never reached the container",
        "The caller lacks roles/run.invoker or sent no Google ID token: send an ID token for the service URL "
        "in X-Serverless-Authorization, or allow unauthenticated invocations.",
    ),
    "server_reported_error": CodeInfo(
        "server_reported_error",
        _PROCESSING,
        "the server reported an error",
        "The app sent an event it marks as an error (`fail_on`, by default a `type: error` event): its message says "
        "what failed; look at the code that sends it and the server's logs just before.",
    ),
    "no_response": CodeInfo(
        "no_response",
        _PROCESSING,
        "no response before the timeout",
        "The connection opened but the server sent nothing expected: check the message sent (`--send`), the "
        "handler's logs, and whether it is blocked on a slow dependency.",
    ),
}

_HTTP_HINTS: dict[int, str] = {
    400: "The server rejected the request as malformed: check the URL, headers and upgrade headers.",
    401: "The app wants credentials: check the token and how it is sent.",
    403: "The app (not IAM: the body is not Google's error page) refused the request: check its auth rules "
    "for this route and the token's claims.",
    404: "No route at this path: check the URL path against the service's routes.",
    405: "The route does not accept this method: check the path points at the WebSocket or health route.",
    426: "The server wants another protocol version: check TLS (wss://) and the WebSocket version.",
    429: "Rate limited: slow down or raise the service's limits.",
    500: "The server failed while answering: read its logs for the exception.",
    502: "A proxy got a bad answer from the service: check the instance started and listens on $PORT.",
    503: "The service is unavailable: it may be starting, scaled to zero with no capacity, or crashing.",
    504: "A proxy timed out waiting for the service: check slow start-up and the request timeout.",
}


# Starlette and FastAPI answer a path with no WebSocket route with an empty 403, the same as an endpoint that
# closes before accept (how they reject auth at the upgrade): the route is the likelier slip, so it comes first.
EMPTY_403_HINT = (
    "The app refused the upgrade with an empty 403. Starlette and FastAPI answer this way both for a path with no "
    "WebSocket route and for an endpoint that closes before accept (auth): check the path against the app's "
    "WebSocket routes first, then the token and how it is sent (header, subprotocol, query)."
)

# Django Channels on daphne: autobahn accepts only 1000 and 3000–4999 from the app, so a consumer's
# close(code=1008) fails and daphne ends the connection with 1011.
DAPHNE_1011_HINT = (
    "The server is daphne (Django Channels), which turns a consumer's close(code=1008) (or any code other than "
    "1000 and 3000–4999) into 1011: if the consumer rejects auth, close with an application code such as 4001 and "
    "map it in probe.close_codes; otherwise read the server's logs at this time for the exception in the consumer."
)


def handshake_hint(status: int, body: str) -> str:
    """What to look at when the upgrade is answered with `status` (the body tells some frameworks apart)."""
    if status == 403 and not body.strip():
        return EMPTY_403_HINT
    return describe_http_status(status)[1]


def server_close_hint(code: int, server: str | None) -> str | None:
    """A hint that only the server's software explains (its `Server:` header), or None."""
    if code == 1011 and server and "daphne" in server.lower():
        return DAPHNE_1011_HINT
    return None


def describe_http_status(status: int) -> tuple[str, str]:
    """The reason phrase of an HTTP status and what to look at when it is unexpected."""
    try:
        name = HTTPStatus(status).phrase
    except ValueError:
        name = "unknown status"
    if status in _HTTP_HINTS:
        return name, _HTTP_HINTS[status]
    if 300 <= status < 400:
        return name, "The server redirects: point the URL at the final location (often http → https)."
    if status >= 500:
        return name, "The server or its front end failed: check the service's logs."
    return name, "Check the service's logs for why it answered with this status."
