"""An HTTP check's token goes where its `auth.type` says: the Authorization header, or `?token=` in the query."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from loopctl.config import load_config
from loopctl.probe.from_config import build_check
from loopctl.probe.options import run_check_sync

TOKEN = "http-auth-token-7f3a9c"


@contextmanager
def recording_server(seen: list[tuple[str, str | None]]) -> Iterator[int]:
    """Answers 200 only when the token arrived in the query, so a token in the wrong place fails the check."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append((self.path, self.headers.get("Authorization")))
            status = 200 if f"token={TOKEN}" in self.path else 401
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("kind", ["query", "bearer"])
def test_the_token_travels_where_the_auth_type_says(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    monkeypatch.setenv("HTTP_AUTH_TOKEN", TOKEN)
    seen: list[tuple[str, str | None]] = []
    with recording_server(seen) as port:
        path = tmp_path / "config.yaml"
        path.write_text(
            f"project: demo\ndeploy: {{target: url, url: 'http://127.0.0.1:{port}'}}\nprobe:\n  checks:\n"
            f"    - name: health\n      http: {{path: /health?x=1, expect_status: 200, "
            f"auth: {{type: {kind}, token: {{env: HTTP_AUTH_TOKEN}}}}}}\n"
        )
        config = load_config(path)
        check = build_check(config.probe.checks[0], f"http://127.0.0.1:{port}", {})
        result = run_check_sync(check)
    (request_path, authorization), *_ = seen
    if kind == "query":
        assert request_path == f"/health?x=1&token={TOKEN}"
        assert authorization is None
        assert result.passed
    else:
        assert request_path == "/health?x=1"
        assert authorization == f"Bearer {TOKEN}"
        assert not result.passed and result.outcome.code == 401
    assert TOKEN not in result.url
