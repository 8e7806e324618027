"""Push against a registry that goes away or answers 500: the right failure (exit 3) or visible retries."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability.conftest import remove_images_of
from tests.reliability.harness import (
    EXIT_BUILD_PUSH,
    EXIT_INCONCLUSIVE,
    assert_complete,
    assert_no_traceback,
    iterate,
    phase,
    write_config,
)
from tests.support.faults import FaultProxy, Matcher, manifest_lookup, manifest_put
from tests.support.realparts import RegistryHandle


@pytest.fixture
def proxy(registry: RegistryHandle) -> Iterator[FaultProxy]:
    """The fault proxy in front of the registry; going down stops the registry too."""
    with FaultProxy(registry.port, on_down=registry.stop) as running:
        yield running
    remove_images_of(running.address)


def build_push_config(folder: Path, context: Path, registry_address: str) -> None:
    write_config(
        folder,
        f"project: reliability\nbuild: {{context: {context}, image: {registry_address}/tiny}}\npush: {{auth: none}}\n",
    )


@pytest.mark.parametrize(
    ("stop_at", "when"),
    [(manifest_put, "mid-push, blobs uploaded, manifest not"), (manifest_lookup, "between build and push")],
    ids=["mid-push", "before-push"],
)
def test_a_registry_that_stops_fails_the_push_with_exit_3(
    tmp_path: Path, tiny_context: Path, proxy: FaultProxy, stop_at: Matcher, when: str
) -> None:
    build_push_config(tmp_path, tiny_context, proxy.address)
    proxy.go_down_at(stop_at)
    done = iterate(tmp_path, "--ci")
    assert done.returncode == EXIT_BUILD_PUSH, (when, done.stderr)
    record = assert_complete(tmp_path, 1, status="failed", phases=[("build", "ok"), ("push", "failed")])
    error = phase(record, "push")["error"]
    assert error["kind"] == "push_unreachable", error
    assert proxy.address in error["message"] and "registry" in error["hint"]
    assert record["push"] is None and record["outcome"] is None
    assert [stop_at(seen.method, seen.path) for seen in proxy.seen if seen.outcome == "down"] == [True]
    # Mid-push the engine reports EOF, which is worth one retry; that retry finds nothing listening.
    assert ("retry 1/3" in done.stderr) == (stop_at is manifest_put), done.stderr
    assert_no_traceback(done.stderr)


@pytest.mark.parametrize("fault", ["500", "cut"])
def test_a_registry_failing_twice_then_recovering_is_retried_and_the_push_succeeds(
    tmp_path: Path, tiny_context: Path, proxy: FaultProxy, registry: RegistryHandle, fault: str
) -> None:
    build_push_config(tmp_path, tiny_context, proxy.address)
    # The engine retries layer uploads itself; a failed manifest upload reaches loopctl, which must retry.
    if fault == "500":
        proxy.fail_next(500, 2, when=manifest_put)
    else:
        proxy.cut_next(2, when=manifest_put)
    done = iterate(tmp_path, "--ci")
    # Build and push succeed; with no check or suite configured, nothing says the image works: no verdict.
    assert done.returncode == EXIT_INCONCLUSIVE, done.stderr
    record = assert_complete(tmp_path, 1, status="inconclusive", phases=[("build", "ok"), ("push", "ok")])
    assert record["push"]["retries"] == 2 and phase(record, "push")["detail"]["retries"] == 2
    assert record["push"]["digest"] == registry.manifest_digest("tiny", "loopctl-0001")
    assert [seen.outcome for seen in proxy.seen if manifest_put(seen.method, seen.path)][:3] == [fault, fault, "201"]
    assert "retry 1/3" in done.stderr and "retry 2/3" in done.stderr


@pytest.mark.parametrize("fault", ["500", "cut"])
def test_a_tag_the_registry_refuses_by_manifest_is_pushed_by_the_engine_instead(
    tmp_path: Path, tiny_context: Path, proxy: FaultProxy, registry: RegistryHandle, fault: str
) -> None:
    build_push_config(tmp_path, tiny_context, proxy.address)

    def tag_put(method: str, path: str) -> bool:  # the engine's own PUT names the input tag, never loopctl-NNNN
        return method == "PUT" and path.endswith("/manifests/loopctl-0001")

    if fault == "500":
        proxy.fail_next(500, 1, when=tag_put)
    else:
        proxy.cut_next(1, when=tag_put)
    done = iterate(tmp_path, "--ci")
    assert done.returncode == EXIT_INCONCLUSIVE, done.stderr
    record = assert_complete(tmp_path, 1, status="inconclusive", phases=[("build", "ok"), ("push", "ok")])
    assert record["push"]["digest"] == registry.manifest_digest("tiny", "loopctl-0001")
    assert record["push"]["retries"] == 0  # a refused manifest PUT is not a failed push: nothing was retried
    # loopctl's PUT met the fault; the engine's push of the same tag went through.
    assert [seen.outcome for seen in proxy.seen if tag_put(seen.method, seen.path)] == [fault, "201"]
    assert_no_traceback(done.stderr)


def test_a_registry_that_serves_other_bytes_for_a_digest_gets_no_tag_from_them() -> None:
    import hashlib
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from loopctl.phases.docker.registry import tag_by_manifest

    stored = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json"}).encode()
    digest = f"sha256:{hashlib.sha256(stored).hexdigest()}"
    puts: list[str] = []

    class Rewriting(BaseHTTPRequestHandler):
        """Answers a by-digest GET with the manifest re-serialised (other bytes), as a converting proxy might."""

        def do_GET(self) -> None:
            body = json.dumps(json.loads(stored), indent=2).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_PUT(self) -> None:
            puts.append(self.path)
            self.send_response(201)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Rewriting)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        repository = f"127.0.0.1:{server.server_address[1]}/app"
        assert tag_by_manifest(repository, digest, ["loopctl-0001"], None) == ["loopctl-0001"]
    finally:
        server.shutdown()
        server.server_close()
    assert puts == []  # the engine pushes that tag instead, from the image it holds


def test_credentials_for_the_registry_do_not_follow_its_redirect_to_another_host() -> None:
    import base64
    import hashlib
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from loopctl.phases.docker.registry import tag_by_manifest

    manifest = b'{"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json"}'
    digest = f"sha256:{hashlib.sha256(manifest).hexdigest()}"
    seen_elsewhere: list[str | None] = []
    tagged: list[str] = []

    def answer(handler: BaseHTTPRequestHandler, status: int, headers: dict[str, str], body: bytes = b"") -> None:
        handler.send_response(status)
        for name, value in {**headers, "Content-Length": str(len(body))}.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(body)

    class Storage(BaseHTTPRequestHandler):
        """Where the registry sends manifest reads: another host, which must never see the registry's login."""

        def do_GET(self) -> None:
            seen_elsewhere.append(self.headers.get("Authorization"))
            answer(self, 200, {"Content-Type": "application/vnd.docker.distribution.manifest.v2+json"}, manifest)

        def log_message(self, *args: object) -> None:
            pass

    storage = ThreadingHTTPServer(("127.0.0.1", 0), Storage)

    class Registry(BaseHTTPRequestHandler):
        """Basic auth, and manifest reads redirected to the storage host (as registries do for blobs)."""

        def _authorized(self) -> bool:
            if self.headers.get("Authorization") == "Basic " + base64.b64encode(b"ci:s3cret-pass").decode():
                return True
            answer(self, 401, {"WWW-Authenticate": 'Basic realm="registry"'})
            return False

        def do_GET(self) -> None:
            if self._authorized():
                answer(self, 307, {"Location": f"http://127.0.0.1:{storage.server_address[1]}/m"})

        def do_PUT(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self._authorized():
                tagged.append(self.path)
                answer(self, 201, {})

        def log_message(self, *args: object) -> None:
            pass

    registry = ThreadingHTTPServer(("127.0.0.1", 0), Registry)
    for server in (storage, registry):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        repository = f"127.0.0.1:{registry.server_address[1]}/app"
        credentials = {"username": "ci", "password": "s3cret-pass"}
        assert tag_by_manifest(repository, digest, ["loopctl-0001"], credentials) == []
    finally:
        for server in (storage, registry):
            server.shutdown()
            server.server_close()
    assert seen_elsewhere == [None]
    assert tagged == ["/v2/app/manifests/loopctl-0001"]
