"""TCP and TLS set-up done by hand, so DNS, connect and TLS failures are told apart precisely."""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import socket
import ssl
from typing import Any
from urllib.parse import SplitResult

from loopctl.probe import classify
from loopctl.records.record import OutcomeRecord


class ProbeEnded(Exception):
    """Raised inside a probe when the outcome is known before the exchange could run."""

    def __init__(self, outcome: OutcomeRecord) -> None:
        super().__init__(outcome.label)
        self.outcome = outcome


def default_port(parts: SplitResult) -> int:
    return parts.port or (443 if parts.scheme in ("wss", "https") else 80)


async def open_tcp(host: str, port: int) -> socket.socket:
    """Resolve and connect, trying each address; map failures to depth-0 outcomes."""
    loop = asyncio.get_running_loop()
    try:
        addresses = _literal(host, port) or await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as err:
        raise ProbeEnded(classify.connect_failure("dns_error", f"{host}: {err.strerror}")) from None
    last_error: OSError | None = None
    for family, kind, proto, _, address in addresses:
        sock = socket.socket(family, kind, proto)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, address)
            return sock
        except OSError as err:
            sock.close()
            last_error = err
    raise ProbeEnded(_connect_error(host, port, last_error))


def _literal(host: str, port: int) -> list[tuple[Any, ...]]:
    """An IP address needs no resolver: under load, getaddrinfo's small thread pool would serialise sessions."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return []
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    return [(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (str(address), port))]


def _connect_error(host: str, port: int, err: OSError | None) -> OutcomeRecord:
    where = f"{host}:{port}"
    if isinstance(err, ConnectionRefusedError):
        return classify.connect_failure("connection_refused", f"{where}: connection refused")
    if err is not None and err.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return classify.connect_failure("unreachable", f"{where}: {err.strerror}")
    if isinstance(err, TimeoutError) or (err is not None and err.errno == errno.ETIMEDOUT):
        return classify.connect_failure("connect_timeout", f"{where}: timed out")
    detail = err.strerror if err is not None and err.strerror else str(err)
    return classify.connect_failure("connection_refused", f"{where}: {detail}")


def tls_context(ca_bundle: str | None) -> ssl.SSLContext:
    """Certificates are verified by default; a CA bundle adds a private CA."""
    return ssl.create_default_context(cafile=ca_bundle)


def failure_from_exception(err: BaseException) -> OutcomeRecord | None:
    """Map a low-level error raised during TLS or the HTTP exchange; None if it is not one we know."""
    if isinstance(err, ssl.SSLCertVerificationError):
        return classify.connect_failure("tls_error", f"certificate verify failed: {err.verify_message}")
    if isinstance(err, ssl.SSLError):
        return classify.connect_failure("tls_error", err.reason or str(err))
    if isinstance(err, ConnectionResetError | BrokenPipeError):
        return classify.connect_failure("connection_reset", str(err) or type(err).__name__)
    return None
