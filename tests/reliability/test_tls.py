"""`wss://` verifies certificates: a private CA's server fails as tls_error until the config names its bundle."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from websockets.asyncio.server import ServerConnection

from tests.reliability.harness import EXIT_CHECKS, assert_complete, assert_no_traceback, iterate, write_config
from tests.support.wsservers import websocket_server


async def greet(connection: ServerConnection) -> None:
    await connection.send(json.dumps({"type": "hello"}))
    await connection.wait_closed()


@pytest.fixture
def private_ca(tmp_path: Path) -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def wss_port(private_ca: trustme.CA) -> Iterator[int]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    private_ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    with websocket_server(greet, ssl_context=context) as port:
        yield port


def tls_config(folder: Path, port: int, bundle: Path | None) -> None:
    ca_line = f", ca_bundle: '{bundle}'" if bundle else ""
    check = f"{{url: 'wss://localhost:{port}/', expect_events: [hello], timeout: 5{ca_line}}}"
    write_config(folder, f"project: reliability\nprobe:\n  checks:\n    - name: secure\n      websocket: {check}\n")


def test_a_self_signed_server_is_a_tls_error_by_default(tmp_path: Path, wss_port: int) -> None:
    tls_config(tmp_path, wss_port, None)
    done = iterate(tmp_path, "--ci")
    assert done.returncode == EXIT_CHECKS, done.stderr
    record = assert_complete(tmp_path, 1, status="failed", phases=[("probe", "failed")])
    outcome = record["checks"][0]["outcome"]
    assert (outcome["category"], outcome["depth"]) == ("tls_error", 0)
    assert "certificate verify failed" in outcome["reason"]
    assert_no_traceback(done.stderr)


def test_naming_the_ca_bundle_makes_the_same_server_pass(tmp_path: Path, wss_port: int, private_ca: trustme.CA) -> None:
    bundle = tmp_path / "private-ca.pem"
    private_ca.cert_pem.write_to_path(str(bundle))
    tls_config(tmp_path, wss_port, bundle)
    done = iterate(tmp_path, "--ci")
    assert done.returncode == 0, done.stderr
    record = assert_complete(tmp_path, 1, status="success", phases=[("probe", "ok")])
    assert record["checks"][0]["events_seen"] == ["hello"]
    assert record["checks"][0]["url"].startswith("wss://localhost:")
