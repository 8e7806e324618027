"""Talking to the registry through the engine: credentials per `push.auth`, and what a tag points at."""

from __future__ import annotations

from typing import Any

from loopctl.errors import LoopctlError
from loopctl.runner import Context

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
            kind="credentials",
        ) from None
    token = str(credentials.token)
    remember(token)
    return token


def remote_digest(reference: str, ctx: Context) -> str | None:
    """The manifest digest the registry holds for `reference`, or None when it holds nothing there."""
    from docker.errors import APIError

    from loopctl.phases.docker.engine import api_client

    try:
        found: dict[str, Any] = api_client().inspect_distribution(reference, auth_config=auth_config(ctx))
    except APIError:
        return None
    digest = (found.get("Descriptor") or {}).get("digest")
    return str(digest) if digest else None
