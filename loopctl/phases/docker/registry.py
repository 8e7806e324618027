"""Talking to the registry through the engine: credentials per `push.auth`, and what a tag points at."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

from loopctl.config import Config
from loopctl.errors import ErrorKind, LoopctlError
from loopctl.phases.base import Context

GCLOUD_USER = "oauth2accesstoken"


def auth_config(ctx: Context) -> dict[str, str] | None:
    """None lets the SDK use the engine's docker config; `{}` is anonymous; gcloud mints an access token.

    Minted once per iteration: build's cache lookup, push and a deploy's pull all need it.
    """
    mode = ctx.config.push.auth if ctx.config.push is not None else "docker-config"
    if mode == "none":
        return {}
    if mode == "gcloud":
        if "gcloud_auth" not in ctx.memo:
            ctx.memo["gcloud_auth"] = {"username": GCLOUD_USER, "password": gcloud_access_token()}
        return dict(ctx.memo["gcloud_auth"])
    return None


def credentials_for(config: Config, host: str) -> dict[str, str] | None:
    """What `push.auth` gives for `host` outside an iteration: the docker config's login for it, when it has one."""
    mode = config.push.auth if config.push is not None else "docker-config"
    if mode == "none":
        return {}
    if mode == "gcloud":
        return {"username": GCLOUD_USER, "password": gcloud_access_token()}
    from docker import auth

    from loopctl.secrets import remember

    found = auth.resolve_authconfig(auth.load_config(), registry=host) or {}
    if not found.get("username"):
        return None
    remember(str(found.get("password", "")))
    return {"username": str(found["username"]), "password": str(found.get("password", ""))}


def gcloud_access_token() -> str:
    """An access token from application-default credentials (remembered for redaction)."""
    from loopctl.secrets import remember

    try:
        import google.auth
        import google.auth.transport.requests

        credentials, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
        credentials.refresh(google.auth.transport.requests.Request())  # type: ignore[no-untyped-call]
    except Exception as err:  # google-auth raises many unrelated types for "no credentials"
        raise LoopctlError(
            f"no Google credentials for push.auth: gcloud ({type(err).__name__})",
            hint="run `gcloud auth application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS",
            kind=ErrorKind.CREDENTIALS,
        ) from None
    token = str(credentials.token)
    remember(token)
    return token


def remote_digest(reference: str, ctx: Context) -> str | None:
    """The manifest digest the registry holds for `reference`, or None when it holds nothing there.

    Asked once per iteration and reference: build's cache lookup and push's check share the answer.
    """
    known: dict[str, str | None] = ctx.memo.setdefault("remote_digest", {})
    if reference not in known:
        known[reference] = _lookup(reference, ctx)
    return known[reference]


def _lookup(reference: str, ctx: Context) -> str | None:
    from loopctl.clients.docker_engine import EngineUnavailable, docker_config_has_credentials

    credentials = auth_config(ctx)
    if credentials is not None or not docker_config_has_credentials():
        # The engine asked directly: the SDK (and requests) stay unloaded on an unchanged iteration.
        try:
            return _lookup_plain(reference, credentials)
        except EngineUnavailable:
            pass  # the SDK path finds the engine the way `docker` does, or says why it cannot
    return _lookup_sdk(reference, credentials)


def _lookup_plain(reference: str, credentials: dict[str, str] | None) -> str | None:
    import base64
    import json
    from urllib.parse import quote

    from loopctl.clients.docker_engine import engine_get

    headers = {}
    if credentials is not None:  # as the SDK encodes a supplied auth config
        headers["X-Registry-Auth"] = base64.urlsafe_b64encode(json.dumps(credentials).encode("ascii")).decode()
    status, found = engine_get(f"/distribution/{quote(reference, safe='/:@')}/json", headers=headers)
    if status != 200 or not isinstance(found, dict):
        return None
    digest = (found.get("Descriptor") or {}).get("digest")
    return str(digest) if digest else None


def _lookup_sdk(reference: str, credentials: dict[str, str] | None) -> str | None:
    from docker.errors import APIError

    from loopctl.clients.docker_engine import api_client

    try:
        found: dict[str, Any] = api_client().inspect_distribution(reference, auth_config=credentials)
    except APIError:
        return None
    digest = (found.get("Descriptor") or {}).get("digest")
    return str(digest) if digest else None


# What a registry may hold under a digest: an image manifest or an index, Docker's or OCI's.
MANIFEST_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.index.v1+json",
)
_LOOPBACK = ("localhost", "127.", "[::1]")
_TIMEOUT_S = 10  # seconds for one connect or read
# The bounds docs/reliability.md lists: change them there too.
TAG_DEADLINE_S = 30.0  # seconds for all of tag_by_manifest's requests: a registry trickling bytes holds no one
MANIFEST_LIMIT = 4 * 1024**2  # bytes of a manifest (the distribution spec's own limit) or a token answer


def tag_by_manifest(repository: str, digest: str, tags: list[str], credentials: dict[str, str] | None) -> list[str]:
    """Add `tags` to an image the registry already holds: one manifest GET, then one PUT per tag.

    What the engine would do for each extra tag after checking every layer again, in two round trips. Returns
    the tags it could not add (any refusal or error), which the caller pushes through the engine as before.
    """
    from http.client import HTTPException
    from urllib.error import URLError

    failures = (URLError, HTTPException, OSError, ValueError)  # any of them: the engine pushes the tag instead
    registry = registry_host(repository)
    if registry is None or not tags:
        return list(tags)
    import hashlib

    path = repository.split("/", 1)[1]
    with registry_client(registry, credentials, actions="pull,push", seconds=TAG_DEADLINE_S) as client:
        try:
            body, media_type = client.manifest(path, digest)
        except failures:
            return list(tags)
        if f"sha256:{hashlib.sha256(body).hexdigest()}" != digest:
            return list(tags)  # not the bytes the digest names: tags PUT with them would point at another manifest
        refused: list[str] = []
        for tag in tags:
            try:
                client.put_manifest(path, tag, body, media_type)
            except failures:
                refused.append(tag)
        return refused


def registry_host(repository: str) -> str | None:
    """The registry host of `host[:port]/path`; None for Docker Hub names (`app`, `user/app`)."""
    first, _, rest = repository.partition("/")
    if not rest or not ("." in first or ":" in first or first == "localhost"):
        return None
    return first


@contextlib.contextmanager
def registry_client(
    registry: str, credentials: dict[str, str] | None, *, actions: str, seconds: float
) -> Iterator[RegistryHttp]:
    """A client of the distribution API whose requests all end by `seconds` from now."""
    with _Deadline(seconds) as deadline:
        yield RegistryHttp(registry, credentials, deadline, actions=actions)


class RegistryHttp:
    """The distribution API over urllib: anonymous, Basic, or a Bearer token from the registry's token realm."""

    def __init__(
        self, registry: str, credentials: dict[str, str] | None, deadline: _Deadline, *, actions: str = "pull,push"
    ) -> None:
        scheme = "http" if registry.startswith(_LOOPBACK) else "https"  # the engine treats loopback as insecure
        self.base = f"{scheme}://{registry}"
        self.credentials = credentials
        self.actions = actions  # the token scope asked for: deleting needs `delete` too
        self.authorization: str | None = None
        self.deadline = deadline

    def tags(self, path: str) -> list[str]:
        """Every tag of the repository (`GET /v2/<name>/tags/list`); a repository never pushed has none."""
        import json

        body, _ = self._send("GET", f"/v2/{path}/tags/list", path, {})
        return [str(tag) for tag in json.loads(body).get("tags") or []]

    def digest(self, path: str, tag: str) -> str:
        """The manifest digest a tag points at, from `Docker-Content-Digest` of a HEAD."""
        _, headers = self._send("HEAD", f"/v2/{path}/manifests/{tag}", path, {"Accept": ", ".join(MANIFEST_TYPES)})
        return str(headers.get("Docker-Content-Digest", ""))

    def delete(self, path: str, digest: str) -> None:
        """`DELETE /v2/<name>/manifests/<digest>`: every tag on it goes; 405 when the registry forbids deleting."""
        self._send("DELETE", f"/v2/{path}/manifests/{digest}", path, {})

    def manifest(self, path: str, digest: str) -> tuple[bytes, str]:
        body, headers = self._send("GET", f"/v2/{path}/manifests/{digest}", path, {"Accept": ", ".join(MANIFEST_TYPES)})
        media_type = headers.get("Content-Type", "").split(";")[0].strip()
        if media_type not in MANIFEST_TYPES:
            raise ValueError(f"unexpected manifest type {media_type!r}")
        return body, media_type

    def put_manifest(self, path: str, tag: str, body: bytes, media_type: str) -> None:
        self._send("PUT", f"/v2/{path}/manifests/{tag}", path, {"Content-Type": media_type}, body)

    def _send(
        self, method: str, url_path: str, path: str, headers: dict[str, str], body: bytes | None = None
    ) -> tuple[bytes, Any]:
        from urllib.error import HTTPError

        for attempt in range(2):
            try:
                return self._open(method, url_path, headers, body)
            except HTTPError as err:
                if err.code != 401 or attempt:
                    raise
                self.authorization = self._answer(err.headers.get("WWW-Authenticate", ""), path)
        raise AssertionError("unreachable")

    def _open(self, method: str, url_path: str, headers: dict[str, str], body: bytes | None) -> tuple[bytes, Any]:
        from urllib.request import Request

        request = Request(self.base + url_path, data=body, headers=headers, method=method)
        if self.authorization:
            _authorize(request, self.authorization)
        with _opener(self.deadline).open(request, timeout=self.deadline.timeout()) as response:
            return _bounded(response), response.headers

    def _answer(self, challenge: str, path: str) -> str:
        """The Authorization for a 401's challenge; ValueError when there is nothing to answer it with."""
        import base64
        import json
        from urllib.parse import urlencode
        from urllib.request import Request

        if not self.credentials or "username" not in self.credentials:
            raise ValueError("the registry wants credentials the engine keeps")
        pair = f"{self.credentials['username']}:{self.credentials.get('password', '')}".encode()
        basic = "Basic " + base64.b64encode(pair).decode()
        scheme, _, params = challenge.partition(" ")
        if scheme.lower() == "basic":
            return basic
        fields = dict(_challenge_fields(params))
        if scheme.lower() != "bearer" or "realm" not in fields:
            raise ValueError(f"unknown auth challenge {scheme!r}")
        query = urlencode({"service": fields.get("service", ""), "scope": f"repository:{path}:{self.actions}"})
        request = Request(f"{fields['realm']}?{query}")
        _authorize(request, basic)
        with _opener(self.deadline).open(request, timeout=self.deadline.timeout()) as response:
            answer = json.loads(_bounded(response))
        token = answer.get("token") or answer.get("access_token")
        if not isinstance(token, str):
            raise ValueError("the token realm gave no token")
        from loopctl.secrets import remember

        remember(token)
        return f"Bearer {token}"


def _authorize(request: Any, authorization: str) -> None:
    """Credentials for this request's host only: urllib copies ordinary headers onto a redirect to any host."""
    request.add_unredirected_header("Authorization", authorization)


def _bounded(response: Any) -> bytes:
    body: bytes = response.read(MANIFEST_LIMIT + 1)
    if len(body) > MANIFEST_LIMIT:
        raise ValueError(f"an answer over {MANIFEST_LIMIT} bytes")
    return body


def _opener(deadline: _Deadline) -> Any:
    """urllib without proxies from the environment (the engine reaches the registry directly, and so do we),
    whose connections `deadline` cuts when its time is up."""
    from http.client import HTTPConnection, HTTPSConnection
    from urllib.request import HTTPHandler, HTTPSHandler, ProxyHandler, build_opener

    class Watched(HTTPHandler):
        def http_open(self, req: Any) -> Any:
            return self.do_open(_watched(HTTPConnection, deadline), req)

    class WatchedTls(HTTPSHandler):
        def https_open(self, req: Any) -> Any:
            context = getattr(self, "_context", None)
            return self.do_open(_watched(HTTPSConnection, deadline), req, context=context)

    return build_opener(ProxyHandler({}), Watched, WatchedTls)


def _watched(base: Any, deadline: _Deadline) -> Callable[..., Any]:
    """A connection factory for urllib whose sockets, once connected, are in the deadline's watch."""

    def make(host: str, **options: Any) -> Any:
        connection = base(host, **options)
        connect = connection.connect

        def connect_watched() -> None:
            connect()
            deadline.watch(connection.sock)

        connection.connect = connect_watched
        return connection

    return make


class _Deadline:
    """One deadline over several requests: at its end, every socket it watches is shut, so a read blocked on a
    registry that sends a byte now and then returns at once (a per-read timeout never fires on such a trickle)."""

    def __init__(self, seconds: float) -> None:
        import threading

        self._ends = time.monotonic() + seconds
        self._sockets: list[Any] = []
        self._lock = threading.Lock()
        self._expired = False
        self._timer = threading.Timer(seconds, self._cut)
        self._timer.daemon = True

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()

    def timeout(self) -> float:
        """The timeout for the next connect or read: the usual one, or less when the deadline is nearer."""
        left = self._ends - time.monotonic()
        if left <= 0:
            raise TimeoutError("the registry took longer than the deadline for tagging")
        return min(_TIMEOUT_S, left)

    def watch(self, sock: Any) -> None:
        with self._lock:
            self._sockets.append(sock)
            expired = self._expired
        if expired:
            _shut(sock)

    def _cut(self) -> None:
        with self._lock:
            self._expired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shut(sock)


def _shut(sock: Any) -> None:
    import contextlib
    import socket

    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def _challenge_fields(params: str) -> list[tuple[str, str]]:
    """`realm="https://…",service="…"` as pairs (quoted values may hold commas)."""
    import re

    return [(match[1].lower(), match[2]) for match in re.finditer(r'(\w+)="([^"]*)"', params)]
