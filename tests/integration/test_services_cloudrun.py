"""Several services on Cloud Run: deploy order, a dependency's URL in its dependent's env, and each one's record."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from loopctl.exitcodes import ExitCode
from loopctl.iterate import IterateOptions, iterate_once
from loopctl.records.record import Record
from tests.support.cloudrun_emulator import CloudRunEmulator
from tests.support.realparts import BASE_IMAGE, start_registry

SERVICE_SOURCE = Path(__file__).resolve().parents[2] / "examples" / "agent-service"
PROJECT, REGION = "shop-proj", "europe-west1"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A registry of the module's own: each service is built from the sample service and pushed there, and the
    emulator pulls it by digest (each service is probed on its own URL)."""
    with start_registry(tmp_path_factory.mktemp("registry")) as running:
        yield running.address


@pytest.fixture
def emulator() -> Iterator[CloudRunEmulator]:
    with CloudRunEmulator(startup_timeout_s=20) as running:
        yield running


def write_config(
    tmp_path: Path,
    emulator: CloudRunEmulator,
    registry: str,
    *,
    strategy: str = "direct",
    suites: str = "",
    api_path: str = "/health",
) -> Path:
    """The contract's shape, on Cloud Run: store, and api depending on it with the store's URL and host in its env."""
    where = f"project: {PROJECT}, region: {REGION}, api_endpoint: {emulator.endpoint}, public: true"
    args = f"args: {{BASE_IMAGE: {BASE_IMAGE}}}"
    path = tmp_path / "config.yaml"
    path.write_text(
        f"""\
project: shop
services:
  store:
    build: {{context: {SERVICE_SOURCE}, image: {registry}/shop-store, {args}}}
    push: {{auth: none}}
    deploy:
      target: cloudrun
      cloudrun: {{{where}, service: shop-store, strategy: {strategy}}}
    probe: {{checks: [{{name: store-health, http: {{path: /health, expect_status: 200, timeout: 5}}}}]}}
  api:
    depends_on: [store]
    build: {{context: {SERVICE_SOURCE}, image: {registry}/shop-api, {args}}}
    push: {{auth: none}}
    deploy:
      target: cloudrun
      cloudrun:
        {{{where}, service: shop-api, strategy: {strategy},
         env: {{STORE_URL: "{{services.store.url}}", STORE_HOST: "{{services.store.host}}", MODE: demo}}}}
    probe: {{checks: [{{name: api-health, http: {{path: {api_path}, expect_status: 200, timeout: 5}}}}]}}
{suites}"""
    )
    return path


def iterate(config: Path) -> tuple[ExitCode, Record]:
    return iterate_once(IterateOptions(config_path=config, ci=True))


def state(emulator: CloudRunEmulator, service: str) -> dict[str, Any]:
    return emulator.service(PROJECT, REGION, service)


def env_of(emulator: CloudRunEmulator, service: str) -> dict[str, str]:
    container = state(emulator, service)["template"]["containers"][0]
    return {item["name"]: item.get("value", "") for item in container.get("env", [])}


def created(emulator: CloudRunEmulator) -> list[str]:
    """The services in the order the emulator's control plane created them."""
    return [name.rsplit("/", 1)[-1] for name in emulator.plane.services]


def test_the_store_deploys_first_and_its_url_reaches_the_apis_revision(
    tmp_path: Path, registry: str, emulator: CloudRunEmulator
) -> None:
    code, record = iterate(write_config(tmp_path, emulator, registry))
    assert (code, record.status) == (ExitCode.OK, "success"), record.phases
    assert created(emulator) == ["shop-store", "shop-api"]
    store_url = state(emulator, "shop-store")["uri"]
    assert env_of(emulator, "shop-api") == {
        "STORE_URL": store_url,
        "STORE_HOST": urlsplit(store_url).netloc,
        "MODE": "demo",
    }
    assert record.services is not None and list(record.services) == ["store", "api"]
    for name, service in (("store", "shop-store"), ("api", "shop-api")):
        deploy = record.services[name].deploy
        assert deploy is not None and deploy.target == "cloudrun" and deploy.service == service
        assert re.fullmatch(rf"{service}-00001-[a-z]{{3}}", deploy.revision or "")
        assert state(emulator, service)["latestReadyRevision"].endswith(f"/{deploy.revision}")
        assert deploy.url == state(emulator, service)["uri"]
    assert record.services["api"].depends_on == ["store"] and record.services["store"].depends_on == []
    assert [(check.service, check.name, check.passed) for check in record.checks] == [
        ("store", "store-health", True),
        ("api", "api-health", True),
    ]
    assert [(phase.service, phase.name) for phase in record.phases] == [
        ("store", "build"),
        ("store", "push"),
        ("api", "build"),
        ("api", "push"),
        ("store", "deploy"),
        ("api", "deploy"),
        ("store", "probe"),
        ("api", "probe"),
    ]


def test_a_store_that_fails_to_deploy_skips_the_api_and_the_probe(
    tmp_path: Path, registry: str, emulator: CloudRunEmulator
) -> None:
    emulator.fail_next_revision()  # the store's revision, the first one the emulator starts
    code, record = iterate(write_config(tmp_path, emulator, registry))
    assert (code, record.status) == (ExitCode.DEPLOY_FAILED, "failed")
    phases = {(phase.service, phase.name): phase for phase in record.phases}
    failed = phases[("store", "deploy")]
    assert failed.status == "failed" and failed.error is not None and failed.error.kind == "revision_not_ready"
    skipped = phases[("api", "deploy")]
    assert (skipped.status, skipped.detail) == ("skipped", {"reason": "after its dependency store failed"})
    assert [phases[(name, "probe")].status for name in ("store", "api")] == ["skipped", "skipped"]
    assert record.checks == []
    assert created(emulator) == ["shop-store"]  # the api was never written
    assert record.services is not None and record.services["api"].deploy is None


def test_preview_shares_the_stores_service_url_and_releases_each_service_after_the_probe(
    tmp_path: Path, registry: str, emulator: CloudRunEmulator
) -> None:
    code, record = iterate(write_config(tmp_path, emulator, registry, strategy="preview"))
    assert (code, record.status) == (ExitCode.OK, "success"), record.phases
    assert record.services is not None
    store, api = record.services["store"], record.services["api"]
    assert store.deploy is not None and api.deploy is not None
    # The probe went to the tagged revision; the api keeps the service's own URL, which outlives the tag.
    store_url = state(emulator, "shop-store")["uri"]
    assert store.deploy.url != store_url
    assert env_of(emulator, "shop-api")["STORE_URL"] == store_url
    assert [(phase.service, phase.name) for phase in record.phases][-2:] == [("store", "release"), ("api", "release")]
    for section, service in ((store, "shop-store"), (api, "shop-api")):
        assert section.release is not None and section.deploy is not None
        assert (section.release.action, section.release.revision) == ("promoted", section.deploy.revision)
        assert [status.get("tag") for status in state(emulator, service)["trafficStatuses"]] == [None]


def test_an_unchanged_project_reuses_both_revisions(tmp_path: Path, registry: str, emulator: CloudRunEmulator) -> None:
    config = write_config(tmp_path, emulator, registry)
    iterate(config)
    code, record = iterate(config)
    assert (code, record.status) == (ExitCode.OK, "success"), record.phases
    assert record.services is not None
    # The api's env, filled with the store's URL, is the same as its revision's: no new revision for it either.
    deploys = [record.services[name].deploy for name in ("store", "api")]
    assert [deploy.reused if deploy else None for deploy in deploys] == [True, True]
    assert [len(emulator.plane.list_revisions(name)) for name in emulator.plane.services] == [1, 1]


def test_each_service_is_promoted_on_its_own_checks(tmp_path: Path, registry: str, emulator: CloudRunEmulator) -> None:
    code, record = iterate(write_config(tmp_path, emulator, registry, strategy="preview", api_path="/missing"))
    assert code == ExitCode.CHECKS_FAILED
    assert [(check.service, check.passed) for check in record.checks] == [("store", True), ("api", False)]
    assert record.services is not None
    store, api = record.services["store"].release, record.services["api"].release
    assert store is not None and store.action == "promoted"
    assert api is not None and (api.action, api.reason) == ("not_promoted", "probe failed: api-health")


def test_a_failing_project_suite_promotes_no_service(tmp_path: Path, registry: str, emulator: CloudRunEmulator) -> None:
    suites = "suites: [{name: e2e, command: 'exit 3'}]\n"
    code, record = iterate(write_config(tmp_path, emulator, registry, strategy="preview", suites=suites))
    assert code == ExitCode.CHECKS_FAILED and [check.passed for check in record.checks] == [True, True]
    assert record.services is not None
    for name in ("store", "api"):
        release = record.services[name].release
        assert release is not None and (release.action, release.reason) == ("not_promoted", "test suites failed")
