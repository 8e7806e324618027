"""Which port a starting container really listens on: its socket table, else what its log says."""

from __future__ import annotations

import ipaddress
import re
import socket
import time
from dataclasses import dataclass
from typing import Any

# Look only once the app has had a moment to bind, then at most this often: each look is a `docker exec`.
FIRST_LOOK_S = 1.0
LOOK_EVERY_S = 0.5
_LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp's `st` column
# "Uvicorn running on http://0.0.0.0:8483", "listening on :::8483", "Listening on port 8483", "bound to 0.0.0.0:8483"
_LOGGED = re.compile(
    r"(?i)\b(?:listen(?:ing)?|running|serving|started|bound)\b[^\n]{0,80}?"
    r"(?:\bport\s+|(?:\d+\.\d+\.\d+\.\d+|localhost|\]|::|\b[a-z][\w.-]*):)"  # an address before `:PORT`, not a clock
    r"([1-9]\d{1,4})\b(?![.:\d])"
)


@dataclass(frozen=True)
class Mismatch:
    """What the container listens on instead of the configured port, and how that was seen."""

    message: str
    hint: str


class PortWatch:
    """Looks now and then, while waiting, at where the container listens; a mismatch seen twice is reported."""

    def __init__(self, container: Any, port: int) -> None:
        self.container = container
        self.port = port
        self.began = time.monotonic()
        self.last_look = 0.0
        self.pending: Mismatch | None = None

    def look(self) -> Mismatch | None:
        now = time.monotonic()
        if now - self.began < FIRST_LOOK_S or now - self.last_look < LOOK_EVERY_S:
            return None
        self.last_look = now
        seen = mismatch(self.container, self.port)
        # Twice in a row: an app may bind a side port (metrics, admin) a moment before its main one.
        confirmed = seen if seen is not None and seen == self.pending else None
        self.pending = seen
        return confirmed


def mismatch(container: Any, port: int) -> Mismatch | None:
    """The container listens, but not where the engine forwards `port`: elsewhere, or on loopback only."""
    sockets = listening_sockets(container)
    if sockets is None:
        return _logged_mismatch(container, port)
    on_port = {address for address, bound in sockets if bound == port}
    if on_port and all(loopback(address) for address in on_port):
        return Mismatch(
            f"it listens on {sorted(on_port)[0]}:{port} inside the container, which the engine's port forwarding "
            "cannot reach",
            f"make the app listen on 0.0.0.0:$PORT ({port}), not on loopback",
        )
    others = sorted({bound for _, bound in sockets if bound != port})
    if on_port or not others:
        return None
    return _elsewhere(others, port, "its listening sockets")


def loopback(address: str) -> bool:
    """127.0.0.0/8 and ::1, and IPv4 loopback held by an IPv6 socket (::ffff:127.0.0.1: how a JVM binds 127.0.0.1)."""
    found = ipaddress.ip_address(address)
    mapped = found.ipv4_mapped if isinstance(found, ipaddress.IPv6Address) else None
    return (mapped or found).is_loopback


def _logged_mismatch(container: Any, port: int) -> Mismatch | None:
    ports = logged_ports(_log_tail(container))
    if not ports or port in ports:
        return None
    return _elsewhere(sorted(set(ports)), port, "its log")


def _elsewhere(others: list[int], port: int, source: str) -> Mismatch:
    names = ", ".join(str(other) for other in others)
    return Mismatch(
        f"it listens on port {names} ({source}), not on {port}, the port deploy.docker.port sets and passes as PORT",
        f"make the app listen on $PORT, or set deploy.docker.port: {others[0]} (the port it listens on)",
    )


def listening_sockets(container: Any) -> set[tuple[str, int]] | None:
    """(address, port) of each listening TCP socket in the container, read with `cat /proc/net/tcp{,6}` there;
    None when it cannot be read (no `cat` in the image, exec refused)."""
    from docker.errors import APIError

    try:
        _, output = container.exec_run(["cat", "/proc/net/tcp", "/proc/net/tcp6"], stdout=True, stderr=False)
    except APIError:
        return None
    text = bytes(output or b"").decode("ascii", "replace")
    if "local_address" not in text:
        return None
    return parse_socket_table(text)


def parse_socket_table(text: str) -> set[tuple[str, int]]:
    """The listening sockets of /proc/net/tcp and tcp6 (both may be concatenated)."""
    found: set[tuple[str, int]] = set()
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 4 or fields[3] != _LISTEN or ":" not in fields[1]:
            continue
        address, _, hex_port = fields[1].partition(":")
        try:
            found.add((_address(address), int(hex_port, 16)))
        except ValueError:
            continue
    return found


def _address(hex_address: str) -> str:
    raw = bytes.fromhex(hex_address)
    family = socket.AF_INET if len(raw) == 4 else socket.AF_INET6
    # /proc prints each 32-bit word in host (little-endian) order.
    packed = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return socket.inet_ntop(family, packed)


def logged_ports(log: str) -> list[int]:
    """The ports a log says the app listens on (`Uvicorn running on http://0.0.0.0:8483`)."""
    ports = [int(match[1]) for match in _LOGGED.finditer(log) if int(match[1]) < 65536]
    return list(dict.fromkeys(ports))


def _log_tail(container: Any) -> str:
    from docker.errors import APIError

    try:
        return bytes(container.logs(stdout=True, stderr=True, tail=50)).decode("utf-8", "replace")
    except APIError:
        return ""
