"""Reaching a private Cloud Run service: a Google ID token for its audience, from whatever credential is at hand.

Which credential: GOOGLE_APPLICATION_CREDENTIALS, else the file `gcloud auth application-default login` writes,
else the metadata server. Each file type has its own way to an ID token:

- `service_account` (a key): a self-signed assertion with `target_audience`, exchanged at the key's `token_uri`;
- `authorized_user` (user ADC): refreshed at its `token_uri`; the answer carries an `id_token`;
- `impersonated_service_account`: the source credential calls IAM Credentials `generateIdToken` for the target;
- `external_account` (Workload Identity Federation): the STS token calls `generateIdToken` for the service account
  of its `service_account_impersonation_url` (a federated token alone has no ID token).

The impersonation paths call `generateIdToken` at the host the file names (its `service_account_impersonation_url`),
where google-auth's `impersonated_credentials.IDTokenCredentials` would always call the public endpoint.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from loopctl.clients.google import error_body, server_text
from loopctl.config import CloudRunConfig, Config, cloudrun_target
from loopctl.errors import ErrorKind, LoopctlError
from loopctl.records.sections import DeploySection
from loopctl.secrets import Secret

# Cloud Run checks this header first, leaving Authorization to the application (the probe's own JWT).
HEADER = "X-Serverless-Authorization"
ID_TOKEN_HINT = (
    "ID tokens come from Application Default Credentials: run `gcloud auth application-default login` "
    "(add --impersonate-service-account SA_EMAIL to act as a service account), or set GOOGLE_APPLICATION_CREDENTIALS "
    "to a service account key or a Workload Identity Federation file; the identity needs roles/run.invoker, "
    "or set deploy.cloudrun.public: true"
)
_IAM_CREDENTIALS = "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/{}:generateIdToken"


@dataclass(frozen=True)
class IdToken:
    """A minted ID token and the credential path that minted it (for `doctor` and the log)."""

    token: Secret
    path: str


def probe_headers(config: Config, url: str) -> list[tuple[str, Secret]]:
    """The headers the probe must send to `url`: none for a public service, an ID token for a private one."""
    cloudrun = cloudrun_target(config)
    if cloudrun is None or cloudrun.public:
        return []
    minted = mint_id_token(audience_for(cloudrun, url))
    return [(HEADER, Secret(f"Bearer {minted.token.reveal()}", source="google-id-token"))]


def refused_hint(config: CloudRunConfig, deploy: DeploySection) -> str:
    """What to change when Cloud Run's front end answers 403: the invoker binding, or `public`."""
    where = f"{config.service} --region {config.region} --project {config.project}"
    if config.public and not deploy.public:
        return (
            "deploy.cloudrun.public: true, but the service still checks invokers: deploy again with loopctl (it "
            f"turns the check off), or run `gcloud run services update {where} --no-invoker-iam-check`, or set "
            "public: false so the probe sends an ID token"
        )
    return (
        "the probe's ID token was refused: grant the identity loopctl used roles/run.invoker "
        f"(`gcloud run services add-iam-policy-binding {where} --member=IDENTITY --role=roles/run.invoker`), "
        "or set deploy.cloudrun.public: true"
    )


def audience_for(config: CloudRunConfig, url: str) -> str:
    """The first custom audience when config names one, else the URL's origin (ws/wss mapped to http/https).

    Cloud Run accepts the service's own URLs (tag URLs included) and its custom audiences."""
    if config.custom_audiences:
        return config.custom_audiences[0]
    parts = urlsplit(url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    return f"{scheme}://{parts.netloc}"


def mint_id_token(audience: str) -> IdToken:
    """An ID token for `audience` from Application Default Credentials, whatever their type."""
    import google.auth.exceptions
    import requests

    source = _credentials_file()
    try:
        if source is None:
            return _from_metadata_server(audience)
        info = _read_json(source)
        kind = str(info.get("type", ""))
        minter = _MINTERS.get(kind)
        if minter is None:
            raise LoopctlError(
                f"cannot get a Google ID token from {source.name}: credential type {kind or '(none)'!r}",
                hint=ID_TOKEN_HINT,
                kind=ErrorKind.CREDENTIALS,
            )
        return IdToken(Secret(minter(info, audience), source="google-id-token"), f"{_PATHS[kind]} ({source.name})")
    except (google.auth.exceptions.GoogleAuthError, requests.RequestException, ValueError, KeyError) as err:
        reason = server_text(str(err) or type(err).__name__)
        raise LoopctlError(
            f"cannot get a Google ID token for {audience}: {reason}",
            hint=ID_TOKEN_HINT,
            kind=ErrorKind.CREDENTIALS,
        ) from err


def _credentials_file() -> Path | None:
    named = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    if named:
        return Path(named)
    from google.auth import _cloud_sdk

    well_known = Path(_cloud_sdk.get_application_default_credentials_path())  # type: ignore[no-untyped-call]
    return well_known if well_known.is_file() else None


def _read_json(source: Path) -> dict[str, Any]:
    try:
        info = json.loads(source.read_text())
    except OSError as err:
        raise LoopctlError(
            f"cannot read Google credentials {source}: {err.strerror or type(err).__name__}",
            hint=ID_TOKEN_HINT,
            kind=ErrorKind.CREDENTIALS,
        ) from err
    except ValueError as err:
        raise LoopctlError(
            f"{source} is not JSON: {err.args[0]}", hint=ID_TOKEN_HINT, kind=ErrorKind.CREDENTIALS
        ) from err
    if not isinstance(info, dict):
        raise LoopctlError(f"{source} is not a credentials file", hint=ID_TOKEN_HINT, kind=ErrorKind.CREDENTIALS)
    return info


def _request() -> Any:
    import google.auth.transport.requests

    return google.auth.transport.requests.Request()


def _from_service_account(info: dict[str, Any], audience: str) -> str:
    from google.oauth2 import service_account

    try:
        credentials = service_account.IDTokenCredentials.from_service_account_info(  # type: ignore[no-untyped-call]
            info, target_audience=audience
        )
    except (ValueError, KeyError) as err:
        raise ValueError(f"not valid service account credentials: {err}") from err
    credentials.refresh(_request())
    return str(credentials.token)


def _from_user(info: dict[str, Any], audience: str) -> str:
    """User ADC: the refresh answer carries an ID token (its audience is the OAuth client, which Cloud Run accepts)."""
    credentials = _user_credentials(info)
    credentials.refresh(_request())
    if not credentials.id_token:
        raise ValueError("the token endpoint sent no id_token: run `gcloud auth application-default login` again")
    return str(credentials.id_token)


def _user_credentials(info: dict[str, Any]) -> Any:
    """`authorized_user` credentials, refreshed at the file's `token_uri` when it names one (google-auth's loader
    always uses Google's endpoint)."""
    from google.oauth2 import credentials as user_credentials

    missing = [key for key in ("client_id", "client_secret", "refresh_token") if not info.get(key)]
    if missing:
        raise ValueError(f"authorized_user credentials without {', '.join(missing)}")
    return user_credentials.Credentials(  # type: ignore[no-untyped-call]
        token=None,
        refresh_token=info["refresh_token"],
        client_id=info["client_id"],
        client_secret=info["client_secret"],
        token_uri=info.get("token_uri") or "https://oauth2.googleapis.com/token",
        quota_project_id=info.get("quota_project_id"),
    )


def _from_impersonation(info: dict[str, Any], audience: str) -> str:
    import google.auth

    source_info = info.get("source_credentials")
    if not isinstance(source_info, dict):
        raise ValueError("an impersonated_service_account file needs source_credentials")
    if source_info.get("type") == "authorized_user":
        source = _user_credentials(source_info)
    else:
        source, _ = google.auth.load_credentials_from_dict(  # type: ignore[no-untyped-call]
            source_info, scopes=["https://www.googleapis.com/auth/cloud-platform"]
        )
    delegates = [str(item) for item in info.get("delegates") or []]
    return _generate_id_token(source, str(info.get("service_account_impersonation_url", "")), audience, delegates)


def _from_federation(info: dict[str, Any], audience: str) -> str:
    """Workload Identity Federation: the STS token (no impersonation) asks IAM Credentials for the SA's ID token."""
    impersonation = str(info.get("service_account_impersonation_url") or "")
    if not impersonation:
        raise ValueError(
            "a federated token without service_account_impersonation_url has no ID token: create the file with "
            "`gcloud iam workload-identity-pools create-cred-config ... --service-account SA_EMAIL`"
        )
    federated = {key: value for key, value in info.items() if not key.startswith("service_account_impersonation")}
    return _generate_id_token(_external_account(federated), impersonation, audience, [])


def _external_account(info: dict[str, Any]) -> Any:
    """The federated credential itself, built by its source kind (google-auth's loader would also look up the
    project through Cloud Resource Manager, which a CI identity rarely may)."""
    from google.auth import aws, identity_pool, pluggable

    source = info.get("credential_source") or {}
    kind: Any = identity_pool.Credentials
    if str(source.get("environment_id", "")).startswith("aws"):
        kind = aws.Credentials
    elif "executable" in source:
        kind = pluggable.Credentials
    return kind.from_info(info, scopes=["https://www.googleapis.com/auth/cloud-platform"])


def _generate_id_token(source: Any, impersonation_url: str, audience: str, delegates: list[str]) -> str:
    """IAM Credentials `projects.serviceAccounts.generateIdToken`, at the host of the file's impersonation URL."""
    from google.auth.transport.requests import AuthorizedSession

    if ":generateAccessToken" not in impersonation_url:
        raise ValueError("service_account_impersonation_url must end in :generateAccessToken")
    url = impersonation_url.replace(":generateAccessToken", ":generateIdToken")
    session = AuthorizedSession(source)  # type: ignore[no-untyped-call]
    try:
        response = session.post(
            url, json={"audience": audience, "includeEmail": True, "delegates": delegates}, timeout=30
        )
    finally:
        session.close()  # type: ignore[no-untyped-call]
    if response.status_code != 200:
        raise ValueError(f"generateIdToken answered {response.status_code}: {_google_message(response)}")
    return str(response.json()["token"])


def _google_message(response: Any) -> str:
    body = error_body(response)
    return str(body["message"]) if "message" in body else response.reason or "no message"


def _from_metadata_server(audience: str) -> IdToken:
    import google.oauth2.id_token

    token = google.oauth2.id_token.fetch_id_token(_request(), audience)  # type: ignore[no-untyped-call]
    return IdToken(Secret(str(token), source="google-id-token"), "metadata server")


_MINTERS = {
    "service_account": _from_service_account,
    "authorized_user": _from_user,
    "impersonated_service_account": _from_impersonation,
    "external_account": _from_federation,
}
_PATHS = {
    "service_account": "service account key",
    "authorized_user": "user credentials (application-default login)",
    "impersonated_service_account": "impersonated service account",
    "external_account": "Workload Identity Federation",
}
