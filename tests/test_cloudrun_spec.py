"""What the Cloud Run phases change in a Service and read back from it, without any server."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from google.cloud import run_v2

from loopctl import __version__
from loopctl.config import CloudRunConfig, Config, DeployConfig, SecretManagerRef
from loopctl.errors import LoopctlError, UsageError
from loopctl.phases.base import Context
from loopctl.phases.cloudrun.deploy import CloudRunDeploy, cloudrun_phases, share
from loopctl.phases.cloudrun.release import CloudRunRelease
from loopctl.phases.cloudrun.spec import (
    ROLLBACK_ANNOTATION,
    all_traffic_to,
    apply_config,
    preview_traffic,
    revision_name,
    rollback_pin,
    serving_revision,
    traffic_shares,
)
from loopctl.records.sections import PushSection, Sections
from loopctl.records.store import Store

IMAGE = "europe-docker.pkg.dev/p/r/chat@sha256:" + "a" * 64
LATEST, BY_NAME = 1, 2


def cloudrun(**settings: Any) -> CloudRunConfig:
    return CloudRunConfig(project="p", region="europe-west1", service="chat", **settings)


def existing_service() -> run_v2.Service:
    secret_ref = run_v2.EnvVarSource(secret_key_ref=run_v2.SecretKeySelector(secret="db", version="latest"))
    container = run_v2.Container(
        image="old",
        ports=[run_v2.ContainerPort(name="http1", container_port=8080)],
        env=[run_v2.EnvVar(name="OLD", value="1"), run_v2.EnvVar(name="DB_PASSWORD", value_source=secret_ref)],
    )
    return run_v2.Service(template=run_v2.RevisionTemplate(revision="chat-00007-old", containers=[container]))


def test_apply_config_pins_the_image_and_references_secrets() -> None:
    service = existing_service()
    config = cloudrun(
        port=9000,
        env={"JWT_SECRET": SecretManagerRef(secret="jwt", version="3"), "MODE": "demo"},
        cpu="2",
        memory="1Gi",
        min_instances=1,
        max_instances=3,
        request_timeout=60,
        ingress="internal",
        service_account="run@p.iam.gserviceaccount.com",
        labels={"team": "chat"},
    )
    apply_config(service, config, IMAGE)
    assert (service.client, service.client_version) == ("loopctl", __version__)
    template = service.template
    container = template.containers[0]
    assert template.revision == ""  # a stale explicit name would make Cloud Run refuse the new template
    assert (container.image, container.ports[0].container_port, container.ports[0].name) == (IMAGE, 9000, "http1")
    assert {item.name: item.value for item in container.env} == {"DB_PASSWORD": "", "JWT_SECRET": "", "MODE": "demo"}
    # OLD is gone (config is the source of truth); the Secret Manager reference set elsewhere stays
    refs = {item.name: item.value_source.secret_key_ref for item in container.env if "value_source" in item}
    assert {name: (ref.secret, ref.version) for name, ref in refs.items()} == {
        "DB_PASSWORD": ("db", "latest"),
        "JWT_SECRET": ("jwt", "3"),
    }
    assert dict(container.resources.limits) == {"cpu": "2", "memory": "1Gi"}
    assert (template.scaling.min_instance_count, template.scaling.max_instance_count) == (1, 3)
    assert template.timeout.total_seconds() == 60 and template.service_account == "run@p.iam.gserviceaccount.com"
    assert service.ingress == run_v2.IngressTraffic.INGRESS_TRAFFIC_INTERNAL_ONLY and service.labels["team"] == "chat"


def test_cloud_run_sets_port_itself() -> None:
    with pytest.raises(UsageError, match="sets PORT, which Cloud Run sets itself"):
        apply_config(existing_service(), cloudrun(env={"PORT": "8080"}), IMAGE)


def serving(*targets: run_v2.TrafficTarget, ready: str = "chat-00002-bbb") -> run_v2.Service:
    statuses = [
        run_v2.TrafficTargetStatus(type_=t.type_, revision=t.revision, percent=t.percent, tag=t.tag) for t in targets
    ]
    return run_v2.Service(
        latest_ready_revision=f"projects/p/locations/europe-west1/services/chat/revisions/{ready}",
        traffic=list(targets),
        traffic_statuses=statuses,
    )


def test_preview_pins_todays_split_and_tags_the_named_new_revision_at_zero() -> None:
    service = serving(run_v2.TrafficTarget(type_=LATEST, percent=100))
    assert [(t.type_, t.revision, t.percent, t.tag) for t in preview_traffic(service, "chat-00003-new")] == [
        (BY_NAME, "chat-00002-bbb", 100, ""),
        (BY_NAME, "chat-00003-new", 0, "loopctl"),
    ]
    assert traffic_shares(service) == [{"revision": "chat-00002-bbb", "percent": 100, "tag": None}]


def test_a_new_service_in_preview_gets_all_traffic_under_the_tag() -> None:
    targets = preview_traffic(run_v2.Service(), "chat-00001-new")
    assert [(t.type_, t.revision, t.percent, t.tag) for t in targets] == [(BY_NAME, "chat-00001-new", 100, "loopctl")]


def test_revision_names_are_cloud_runs_style() -> None:
    assert re.fullmatch(r"chat-00012-[a-z]{3}", revision_name("chat", 12))
    assert len(revision_name("a" * 49, 99999)) <= 63


def test_only_loopctls_own_rollback_pin_is_lifted() -> None:
    pinned = serving(run_v2.TrafficTarget(type_=BY_NAME, revision="chat-00001-aaa", percent=100))
    assert rollback_pin(pinned) is None  # someone else's pin
    pinned.annotations[ROLLBACK_ANNOTATION] = "chat-00001-aaa"
    assert rollback_pin(pinned) == "chat-00001-aaa"
    pinned.annotations[ROLLBACK_ANNOTATION] = "chat-00000-zzz"  # traffic moved since the rollback
    assert rollback_pin(pinned) is None


def test_all_traffic_to_uses_latest_for_the_newest_and_a_name_for_a_rollback() -> None:
    service = serving(
        run_v2.TrafficTarget(type_=BY_NAME, revision="chat-00001-aaa", percent=100),
        run_v2.TrafficTarget(type_=BY_NAME, revision="chat-00002-bbb", percent=0, tag="loopctl"),
    )
    assert serving_revision(service) == "chat-00001-aaa"
    assert [(t.type_, t.revision, t.percent) for t in all_traffic_to(service, "chat-00002-bbb")] == [(LATEST, "", 100)]
    assert [(t.type_, t.revision, t.percent) for t in all_traffic_to(service, "chat-00001-aaa")] == [
        (BY_NAME, "chat-00001-aaa", 100)
    ]


@pytest.mark.parametrize(
    ("settings", "names"),
    [
        ({}, ["deploy"]),
        ({"strategy": "preview"}, ["deploy", "release"]),
        ({"rollback_on_failure": True}, ["deploy", "release"]),
    ],
)
def test_a_release_phase_only_when_there_is_something_to_release(settings: dict[str, Any], names: list[str]) -> None:
    config = Config(project="t", deploy=DeployConfig(target="cloudrun", cloudrun=cloudrun(**settings)))
    phases = cloudrun_phases(config)
    assert [phase.name for phase in phases] == names
    assert isinstance(phases[0], CloudRunDeploy) and all(isinstance(p, CloudRunRelease) for p in phases[1:])


def context(tmp_path: Path, sections: Sections | None = None) -> Context:
    config = Config(project="t", deploy=DeployConfig(target="cloudrun", cloudrun=cloudrun()))
    return Context(config, Store(tmp_path), 1, lambda event: None, sections=sections or Sections())


def test_nothing_to_deploy_without_an_image(tmp_path: Path) -> None:
    with pytest.raises(LoopctlError, match="nothing to deploy"):
        CloudRunDeploy().run(context(tmp_path))


def test_missing_credentials_name_the_login_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "absent.json"))
    with pytest.raises(LoopctlError) as caught:
        CloudRunDeploy().run(context(tmp_path, Sections(push=PushSection(pinned=IMAGE))))
    assert caught.value.kind == "credentials" and "no Google Cloud credentials" in caught.value.message
    assert "gcloud auth application-default login" in caught.value.hint


STORE = {"store": {"url": "https://store-abc-ew.a.run.app", "host": "store-abc-ew.a.run.app"}}


def test_a_dependencys_url_and_host_fill_the_revisions_env() -> None:
    service = existing_service()
    env = {"STORE_URL": "{services.store.url}", "STORE": "wss://{services.store.host}/ws", "MODE": "demo"}
    apply_config(service, cloudrun(env=env), IMAGE, peers=STORE)
    values = {item.name: item.value for item in service.template.containers[0].env}
    assert values["STORE_URL"] == "https://store-abc-ew.a.run.app"
    assert values["STORE"] == "wss://store-abc-ew.a.run.app/ws" and values["MODE"] == "demo"


def test_a_reference_no_deploy_made_known_fails_naming_it() -> None:
    with pytest.raises(LoopctlError) as caught:
        apply_config(existing_service(), cloudrun(env={"STORE_URL": "{services.store.url}"}), IMAGE, peers={})
    assert caught.value.message == (
        "deploy.cloudrun.env.STORE_URL: {services.store.url} is not known: store's deploy made no URL known"
    )
    assert caught.value.kind == "no_url" and "STORE_URL" in caught.value.hint


def test_a_service_shares_its_own_url_and_none_when_its_default_url_is_off(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    ctx.service = "store"
    share(ctx, run_v2.Service(uri="https://store-abc-ew.a.run.app"))
    assert ctx.peers == STORE
    share(ctx, run_v2.Service(uri="https://store-abc-ew.a.run.app", default_uri_disabled=True))
    assert ctx.peers == {"store": {}}  # said, so the runner does not share the probe's URL in its place
    with pytest.raises(LoopctlError, match="store's deploy made no URL known"):
        apply_config(existing_service(), cloudrun(env={"STORE": "{services.store.host}"}), IMAGE, peers=ctx.peers)
