"""probe_headers for private Cloud Run services: only the paths that need no Google endpoint."""

from __future__ import annotations

from pathlib import Path

import pytest

from loopctl.config import CloudRunConfig, Config, DeployConfig
from loopctl.errors import LoopctlError
from loopctl.phases.cloudrun.auth import probe_headers


def config(*, invoker_iam: bool) -> Config:
    block = CloudRunConfig(project="p", region="europe-west1", service="chat", invoker_iam=invoker_iam)
    return Config(project="t", deploy=DeployConfig(target="cloudrun", cloudrun=block))


def test_a_public_service_needs_no_header() -> None:
    assert probe_headers(config(invoker_iam=False), "https://chat-abc.a.run.app/ws") == []


def test_a_missing_key_file_says_where_id_tokens_come_from(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "absent.json"))
    with pytest.raises(LoopctlError) as caught:
        probe_headers(config(invoker_iam=True), "wss://chat-abc.a.run.app/ws")
    assert caught.value.kind == "credentials"
    assert caught.value.message.startswith("cannot get a Google ID token for https://chat-abc.a.run.app: ")
    assert (
        "GOOGLE_APPLICATION_CREDENTIALS" in caught.value.hint and "--impersonate-service-account" in caught.value.hint
    )


def test_a_broken_key_file_is_an_error_not_a_traceback(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    key = tmp_path / "key.json"
    key.write_text('{"type": "service_account", "client_email": "probe@p.iam.gserviceaccount.com"}')
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key))
    with pytest.raises(LoopctlError) as caught:
        probe_headers(config(invoker_iam=True), "https://chat-abc.a.run.app")
    assert caught.value.kind == "credentials" and "not valid service account credentials" in caught.value.message
