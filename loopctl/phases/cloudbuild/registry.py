"""What a tag points at, asked of the registry over HTTP (Docker Registry API v2): no Docker Engine needed."""

from __future__ import annotations

import base64
import re
from typing import Any

from loopctl.errors import ErrorKind, LoopctlError
from loopctl.phases.base import Context

MANIFEST_ACCEPT = ", ".join(
    [
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    ]
)
_TIMEOUT_S = 20
_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def manifest_digest(reference: str, ctx: Context) -> str | None:
    """The digest the registry holds for `host/repo:tag`, or None when it holds nothing there."""
    import requests

    host, repository, tag = split_reference(reference)
    url = f"{_scheme(host)}://{host}/v2/{repository}/manifests/{tag}"
    headers = {"Accept": MANIFEST_ACCEPT}
    try:
        response = requests.head(url, headers=headers, timeout=_TIMEOUT_S)
        if response.status_code == 401:
            headers["Authorization"] = _authorization(response.headers.get("WWW-Authenticate", ""), host, ctx)
            response = requests.head(url, headers=headers, timeout=_TIMEOUT_S)
    except requests.exceptions.RequestException as err:
        raise LoopctlError(
            f"registry {host} unreachable: {type(err).__name__}",
            hint="check the host in build.image and the network",
            kind=ErrorKind.PUSH_UNREACHABLE,
        ) from None
    if response.status_code == 404:
        return None
    if response.status_code in (401, 403):
        raise LoopctlError(
            f"registry {host} refused to show {repository}:{tag} ({response.status_code})",
            hint="set push.auth: gcloud (Artifact Registry) or log in with `docker login` (push.auth: docker-config)",
            kind=ErrorKind.PUSH_DENIED,
        )
    if response.status_code != 200:
        raise LoopctlError(
            f"registry {host} answered {response.status_code} for {repository}:{tag}", kind=ErrorKind.PUSH
        )
    digest = str(response.headers.get("Docker-Content-Digest") or "")
    if not DIGEST.fullmatch(digest):
        raise LoopctlError(f"registry {host} sent no usable digest for {repository}:{tag}", kind=ErrorKind.PUSH)
    return digest


def split_reference(reference: str) -> tuple[str, str, str]:
    """`host[:port]/repo/name:tag` → (host, repo/name, tag); Docker Hub names get their implied host."""
    name, _, tag = reference.rpartition(":")
    if "/" in tag or not name:
        name, tag = reference, "latest"
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return first, rest, tag
    return "registry-1.docker.io", name if "/" in name else f"library/{name}", tag


def _scheme(host: str) -> str:
    return "http" if host.startswith(("127.", "localhost", "[::1]")) else "https"


def _authorization(challenge: str, host: str, ctx: Context) -> str:
    """Answer the registry's challenge: Basic with the configured credentials, or a Bearer token got with them."""
    import requests

    user, password = _credentials(host, ctx)
    basic = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode() if user else ""
    if not challenge.lower().startswith("bearer"):
        return basic
    params = dict(_CHALLENGE.findall(challenge))
    realm = params.pop("realm", "")
    answer = requests.get(realm, params=params, headers={"Authorization": basic} if basic else {}, timeout=_TIMEOUT_S)
    if answer.status_code != 200:
        return basic
    document: dict[str, Any] = answer.json()
    token = document.get("token") or document.get("access_token") or ""
    from loopctl.secrets import remember

    remember(token)
    return f"Bearer {token}"


def _credentials(host: str, ctx: Context) -> tuple[str, str]:
    from loopctl.phases.docker.registry import GCLOUD_USER, auth_config

    mode = ctx.config.push.auth if ctx.config.push is not None else "docker-config"
    if mode == "gcloud":
        found = auth_config(ctx) or {}
        return GCLOUD_USER, found.get("password", "")
    if mode == "docker-config":
        return _docker_config_login(host)
    return "", ""


def _docker_config_login(host: str) -> tuple[str, str]:
    """A plain `auths` entry of the docker config; credential helpers need Docker, so they are not read here."""
    from loopctl.clients.docker_engine import docker_config

    try:
        encoded = (docker_config() or {})["auths"][host]["auth"]
        user, _, password = base64.b64decode(encoded).decode().partition(":")
    except (ValueError, KeyError, TypeError):
        return "", ""
    from loopctl.secrets import remember

    remember(password)
    return user, password
