"""Reaching a private Cloud Run service: a Google ID token for its URL, sent where Cloud Run's front end reads it."""

from __future__ import annotations

from urllib.parse import urlsplit

from loopctl.config import Config
from loopctl.errors import LoopctlError
from loopctl.secrets import Secret

# Cloud Run checks this header first, leaving Authorization to the application (the probe's own JWT).
HEADER = "X-Serverless-Authorization"
ID_TOKEN_HINT = (
    "ID tokens come from a service account: set GOOGLE_APPLICATION_CREDENTIALS to its key, or run "
    "`gcloud auth application-default login --impersonate-service-account SA_EMAIL` (it needs roles/run.invoker)"
)


def probe_headers(config: Config, url: str) -> list[tuple[str, Secret]]:
    """The headers the probe must send to `url`: none for a public service, an ID token when invoker_iam is set."""
    cloudrun = config.deploy.cloudrun if config.deploy is not None else None
    if cloudrun is None or not cloudrun.invoker_iam:
        return []
    token = _id_token(audience=_origin(url))
    return [(HEADER, Secret(f"Bearer {token}", source="google-id-token"))]


def _id_token(*, audience: str) -> str:
    import google.auth.exceptions
    import google.auth.transport.requests
    import google.oauth2.id_token

    try:
        request = google.auth.transport.requests.Request()
        token = google.oauth2.id_token.fetch_id_token(request, audience)  # type: ignore[no-untyped-call]
    except google.auth.exceptions.GoogleAuthError as err:
        reason = (str(err).splitlines() or [type(err).__name__])[0]
        raise LoopctlError(
            f"cannot get a Google ID token for {audience}: {reason}",
            hint=ID_TOKEN_HINT,
            kind="credentials",
        ) from err
    return str(token)


def _origin(url: str) -> str:
    """Cloud Run expects the service URL as audience: scheme and host, no path (ws/wss mapped to http/https)."""
    parts = urlsplit(url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    return f"{scheme}://{parts.netloc}"
