"""`loopctl doctor` for a private Cloud Run service: it mints an ID token and says which credential path made it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from loopctl.doctor import diagnose
from tests.support.cloudrun_tokens import TokenEndpoints


@pytest.fixture
def google() -> Iterator[TokenEndpoints]:
    with TokenEndpoints() as endpoints:
        yield endpoints


def write_config(tmp_path: Path, *, public: bool) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        "project: demo\ndeploy:\n  target: cloudrun\n  cloudrun:\n    project: p\n    region: europe-west1\n"
        f'    service: chat\n    api_endpoint: "http://127.0.0.1:9"\n    public: {str(public).lower()}\n'
    )
    return path


def test_doctor_mints_an_id_token_and_names_the_credential(
    google: TokenEndpoints, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = tmp_path / "impersonated.json"
    key.write_text(json.dumps(google.impersonated_file("dev@example.com", "prober@p.iam.gserviceaccount.com")))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key))
    findings = {finding.name: finding for finding in diagnose(write_config(tmp_path, public=False))}
    token = findings["cloud run id token"]
    assert token.ok and token.detail.startswith("minted with impersonated service account (impersonated.json)")
    assert "google credentials" not in findings  # an http:// emulator endpoint needs no API credentials


def test_doctor_says_why_no_token_could_be_minted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "absent.json"))
    findings = {finding.name: finding for finding in diagnose(write_config(tmp_path, public=False))}
    token = findings["cloud run id token"]
    assert not token.ok and "absent.json" in token.detail and "public: true" in token.fix


def test_a_public_service_needs_no_token(tmp_path: Path) -> None:
    assert "cloud run id token" not in {finding.name for finding in diagnose(write_config(tmp_path, public=True))}


def test_user_credentials_get_a_note_about_their_audience(
    google: TokenEndpoints, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A user's ID token is minted for the ADC OAuth client, whatever audience the service wants."""
    user = tmp_path / "adc.json"
    user.write_text(json.dumps(google.user_file("dev@example.com")))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(user))
    token = {finding.name: finding for finding in diagnose(write_config(tmp_path, public=False))}["cloud run id token"]
    assert token.ok and token.warning
    assert "audience is the OAuth client" in token.detail and "custom_audiences" in token.detail
    assert "--impersonate-service-account" in token.fix
