"""deploy.cloudrun is checked against Cloud Run's own rules before any API call: exit 2, the field's path and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from loopctl.config import load_config, pullable_by_cloud_run
from loopctl.errors import UsageError


def cloudrun(tmp_path: Path, block: str, *, image: str = "europe-west1-docker.pkg.dev/p/r/chat") -> Path:
    path = tmp_path / "c.yaml"
    indented = "".join(f"    {line}\n" for line in block.strip().splitlines())
    path.write_text(
        f"project: demo\nbuild:\n  image: {image}\ndeploy:\n  target: cloudrun\n  cloudrun:\n"
        f"    project: p\n    region: europe-west1\n{indented}"
    )
    return path


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        ("service: Chat", "c.yaml:9: deploy.cloudrun.service: 'Chat' is not a Cloud Run service name"),
        ("service: 9lives", "'9lives' is not a Cloud Run service name"),
        ("service: chat-", "'chat-' is not a Cloud Run service name"),
        (f"service: {'a' * 50}", "at most 49 characters"),
        (
            f"service: {'a' * 40}\nstrategy: preview",
            "c.yaml:6: deploy.cloudrun: strategy preview tags revisions 'loopctl': tag and service name "
            "together must be at most 46 characters, so service names up to 39 (this one has 40)",
        ),
        (
            "service: chat\nlabels: {run.googleapis.com/ingress: all}",
            "c.yaml:10: deploy.cloudrun.labels: label 'run.googleapis.com/ingress' uses a prefix Google",
        ),
        ("service: chat\nlabels: {goog-managed: x}", "label 'goog-managed' uses a prefix Google reserves"),
        ("service: chat\nlabels: {Team: x}", "label key 'Team': lowercase letters"),
        ("service: chat\nlabels: {team: Chat Ops}", "label 'team': value 'Chat Ops'"),
        (
            "service: chat\nenv: {JWT_SECRET: {env: JWT}}",
            "c.yaml:10: deploy.cloudrun.env: JWT_SECRET would be written into the revision as plain "
            "text: on Cloud Run a secret is a Secret Manager reference, e.g. JWT_SECRET: {secret: NAME, version: "
            "latest}",
        ),
        ("service: chat\napi_endpoint: europe-west1-run.googleapis.com", "give the scheme"),
    ],
)
def test_cloud_run_rules_fail_before_any_call(tmp_path: Path, block: str, expected: str) -> None:
    with pytest.raises(UsageError) as caught:
        load_config(cloudrun(tmp_path, block), check_env=False)
    assert expected in caught.value.message


def test_an_image_cloud_run_cannot_pull_is_named_with_its_line(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as caught:
        load_config(cloudrun(tmp_path, "service: chat", image="ghcr.io/org/chat"), check_env=False)
    assert caught.value.message.endswith("c.yaml:3: build.image: Cloud Run cannot pull from ghcr.io")
    assert "docker.pkg.dev" in caught.value.hint


def test_an_emulator_endpoint_runs_any_image(tmp_path: Path) -> None:
    block = 'service: chat\napi_endpoint: "http://127.0.0.1:9"'
    config = load_config(cloudrun(tmp_path, block, image="127.0.0.1:5000/chat"), check_env=False)
    assert config.deploy is not None and config.deploy.cloudrun is not None and config.deploy.cloudrun.emulated


def test_secret_manager_references_and_defaults(tmp_path: Path) -> None:
    block = "service: chat\nenv: {JWT_SECRET: {secret: jwt}, MODE: staging}\ncustom_audiences: [https://api.example]"
    settings = load_config(cloudrun(tmp_path, block), check_env=False).deploy
    assert settings is not None and settings.cloudrun is not None
    jwt = settings.cloudrun.env["JWT_SECRET"]
    assert (getattr(jwt, "secret", None), getattr(jwt, "version", None)) == ("jwt", "latest")
    assert settings.cloudrun.public is False and settings.cloudrun.custom_audiences == ["https://api.example"]


@pytest.mark.parametrize(
    ("image", "pullable"),
    [
        ("europe-west1-docker.pkg.dev/p/r/chat@sha256:" + "0" * 64, True),
        ("gcr.io/p/chat", True),
        ("eu.gcr.io/p/chat", True),
        ("docker.io/library/nginx", True),
        ("nginx", True),
        ("ghcr.io/org/chat", False),
        ("127.0.0.1:5000/chat", False),
        ("evilgcr.io/p/chat", False),
    ],
)
def test_which_hosts_cloud_run_pulls_from(image: str, pullable: bool) -> None:
    assert pullable_by_cloud_run(image) is pullable


def services(tmp_path: Path, api_endpoint: str = "") -> Path:
    """Two services on Cloud Run: web builds from an Artifact Registry repository, api and worker from ghcr.io."""
    where = "project: p, region: europe-west1" + (f", api_endpoint: {api_endpoint}" if api_endpoint else "")
    blocks = "".join(
        f"  {name}:\n    build: {{image: {image}}}\n"
        f"    deploy: {{target: cloudrun, cloudrun: {{{where}, service: {name}}}}}\n"
        for name, image in (
            ("web", "europe-west1-docker.pkg.dev/p/r/web"),
            ("api", "ghcr.io/org/api"),
            ("worker", "ghcr.io/org/worker"),
        )
    )
    path = tmp_path / "c.yaml"
    path.write_text(f"project: shop\nservices:\n{blocks}")
    return path


def test_each_services_image_cloud_run_cannot_pull_is_named_with_its_line(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as caught:
        load_config(services(tmp_path), check_env=False)
    assert caught.value.message == (
        "invalid config:\n"
        f"  - {tmp_path / 'c.yaml'}:7: services.api.build.image: Cloud Run cannot pull from ghcr.io\n"
        f"  - {tmp_path / 'c.yaml'}:10: services.worker.build.image: Cloud Run cannot pull from ghcr.io"
    )
    assert "docker.pkg.dev" in caught.value.hint


def test_services_deployed_to_an_emulator_run_any_image(tmp_path: Path) -> None:
    config = load_config(services(tmp_path, "http://127.0.0.1:9"), check_env=False)
    assert config.services is not None and list(config.services) == ["web", "api", "worker"]
