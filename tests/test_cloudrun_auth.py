"""ID tokens for private Cloud Run services from every credential type, against Google's token endpoints emulated."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from loopctl.config import CloudRunConfig, Config, DeployConfig, DockerDeployConfig
from loopctl.errors import LoopctlError
from loopctl.phases.cloudrun.api import _clients
from loopctl.phases.cloudrun.auth import HEADER, mint_id_token, probe_headers
from tests.support.cloudrun_tokens import TokenEndpoints, verify

AUDIENCE = "https://chat-abc123-ew.a.run.app"
SA = "prober@loop-proj.iam.gserviceaccount.com"


@pytest.fixture
def google() -> Iterator[TokenEndpoints]:
    with TokenEndpoints() as endpoints:
        yield endpoints


def use(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, document: dict[str, Any]) -> None:
    path = tmp_path / "credentials.json"
    path.write_text(json.dumps(document))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))


def config(*, public: bool, **cloudrun: Any) -> Config:
    block = CloudRunConfig(project="p", region="europe-west1", service="chat", public=public, **cloudrun)
    return Config(project="t", deploy=DeployConfig(target="cloudrun", cloudrun=block))


def test_a_public_service_needs_no_header() -> None:
    assert probe_headers(config(public=True), "https://chat-abc.a.run.app/ws") == []


def test_a_cloudrun_block_left_beside_another_target_sends_no_token() -> None:
    block = CloudRunConfig(project="p", region="europe-west1", service="chat", public=False)
    local = DeployConfig(target="docker", docker=DockerDeployConfig(name="chat"), cloudrun=block)
    assert probe_headers(Config(project="t", deploy=local), "http://127.0.0.1:8080") == []


def test_a_service_account_key_mints_a_token_for_the_audience(
    google: TokenEndpoints, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use(tmp_path, monkeypatch, google.service_account_file(SA))
    minted = mint_id_token(AUDIENCE)
    claims = verify(minted.token.reveal(), google.public_keys, audience=AUDIENCE)
    assert claims["email"] == SA and minted.path == "service account key (credentials.json)"
    assert "***" in repr(minted.token)  # the token never prints


def test_user_credentials_use_the_id_token_of_their_refresh(
    google: TokenEndpoints, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    document = google.user_file("dev@example.com")
    use(tmp_path, monkeypatch, document)
    minted = mint_id_token(AUDIENCE)
    claims = verify(minted.token.reveal(), google.public_keys, audience=document["client_id"])
    assert claims["email"] == "dev@example.com" and minted.path.startswith("user credentials")
    assert google.requests == ["/token"]


def test_impersonated_credentials_ask_iam_credentials_for_the_target(
    google: TokenEndpoints, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use(tmp_path, monkeypatch, google.impersonated_file("dev@example.com", SA))
    minted = mint_id_token(AUDIENCE)
    claims = verify(minted.token.reveal(), google.public_keys, audience=AUDIENCE)
    assert claims["email"] == SA and minted.path.startswith("impersonated service account")
    assert google.requests == ["/token", f"/v1/projects/-/serviceAccounts/{SA}:generateIdToken"]


def test_workload_identity_federation_impersonates_its_service_account(
    google: TokenEndpoints, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    subject = tmp_path / "oidc.jwt"
    subject.write_text("github-oidc-token")
    use(tmp_path, monkeypatch, google.federation_file(str(subject), "repo:org/app", SA))
    minted = mint_id_token(AUDIENCE)
    claims = verify(minted.token.reveal(), google.public_keys, audience=AUDIENCE)
    assert claims["email"] == SA and minted.path.startswith("Workload Identity Federation")
    assert google.requests == ["/v1/token", f"/v1/projects/-/serviceAccounts/{SA}:generateIdToken"]


def test_a_federation_file_without_a_service_account_says_how_to_make_one(
    google: TokenEndpoints, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    subject = tmp_path / "oidc.jwt"
    subject.write_text("github-oidc-token")
    document = google.federation_file(str(subject), "repo:org/app", SA)
    del document["service_account_impersonation_url"]
    use(tmp_path, monkeypatch, document)
    with pytest.raises(LoopctlError) as caught:
        mint_id_token(AUDIENCE)
    assert caught.value.kind == "credentials" and "--service-account SA_EMAIL" in caught.value.message


def test_the_probe_header_carries_a_token_for_the_custom_audience(
    google: TokenEndpoints, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use(tmp_path, monkeypatch, google.service_account_file(SA))
    [(name, value)] = probe_headers(config(public=False, custom_audiences=["https://api.example.com"]), AUDIENCE)
    assert name == HEADER and value.reveal().startswith("Bearer ")
    assert verify(value.reveal().removeprefix("Bearer "), google.public_keys)["aud"] == "https://api.example.com"


def test_a_refused_refresh_is_one_line_without_the_token(
    google: TokenEndpoints, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    document = google.user_file("dev@example.com")
    document["refresh_token"] = "1//revoked-refresh-token"
    use(tmp_path, monkeypatch, document)
    with pytest.raises(LoopctlError) as caught:
        probe_headers(config(public=False), "wss://chat-abc.a.run.app/ws")
    assert caught.value.kind == "credentials"
    assert caught.value.message.startswith("cannot get a Google ID token for https://chat-abc.a.run.app: ")
    assert "invalid_grant" in caught.value.message and "revoked-refresh-token" not in caught.value.message
    assert "roles/run.invoker" in caught.value.hint and "public: true" in caught.value.hint


def test_a_missing_key_file_says_where_id_tokens_come_from(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "absent.json"))
    with pytest.raises(LoopctlError) as caught:
        probe_headers(config(public=False), "wss://chat-abc.a.run.app/ws")
    assert caught.value.kind == "credentials" and "absent.json" in caught.value.message
    assert (
        "GOOGLE_APPLICATION_CREDENTIALS" in caught.value.hint and "--impersonate-service-account" in caught.value.hint
    )


def test_a_broken_key_file_is_an_error_not_a_traceback(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    use(tmp_path, monkeypatch, {"type": "service_account", "client_email": "probe@p.iam.gserviceaccount.com"})
    with pytest.raises(LoopctlError) as caught:
        probe_headers(config(public=False), "https://chat-abc.a.run.app")
    assert caught.value.kind == "credentials" and "not valid service account credentials" in caught.value.message


def test_a_regional_https_endpoint_keeps_the_credentials(
    google: TokenEndpoints, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from google.auth.credentials import AnonymousCredentials
    from google.oauth2 import service_account

    use(tmp_path, monkeypatch, google.service_account_file(SA))
    regional = CloudRunConfig(
        project="p", region="europe-west1", service="chat", api_endpoint="https://europe-west1-run.googleapis.com"
    )
    services, _ = _clients(regional)
    assert isinstance(services._transport._credentials, service_account.Credentials)
    assert services._transport._host == "https://europe-west1-run.googleapis.com"
    emulated = CloudRunConfig(project="p", region="europe-west1", service="chat", api_endpoint="http://127.0.0.1:9")
    assert isinstance(_clients(emulated)[0]._transport._credentials, AnonymousCredentials)


def test_a_refused_generate_id_token_says_what_iam_credentials_answered(
    google: TokenEndpoints, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    document = google.impersonated_file("dev@example.com", SA)
    document["service_account_impersonation_url"] = document["service_account_impersonation_url"].replace(
        "/serviceAccounts/", "/serviceAccountz/"
    )
    use(tmp_path, monkeypatch, document)
    with pytest.raises(LoopctlError) as caught:
        mint_id_token(AUDIENCE)
    assert caught.value.kind == "credentials"
    assert caught.value.message == (
        f"cannot get a Google ID token for {AUDIENCE}: generateIdToken answered 404: "
        f"/v1/projects/-/serviceAccountz/{SA}:generateIdToken is not part of this emulator."
    )


def test_a_token_endpoint_that_cannot_be_reached_is_one_redacted_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    document = {
        "type": "authorized_user",
        "client_id": "c.apps.googleusercontent.com",
        "client_secret": "client-secret",
        "refresh_token": "1//refresh",
        "token_uri": "http://127.0.0.1:1/token?access_token=leaked-in-the-query",
    }
    use(tmp_path, monkeypatch, document)
    with pytest.raises(LoopctlError) as caught:
        mint_id_token(AUDIENCE)
    message = caught.value.message
    assert caught.value.kind == "credentials" and message.startswith(f"cannot get a Google ID token for {AUDIENCE}: ")
    assert "access_token=***" in message and "leaked-in-the-query" not in message
    assert "\n" not in message and len(message) <= len(f"cannot get a Google ID token for {AUDIENCE}: ") + 300
