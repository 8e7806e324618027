"""Cloud Run deploy and release end to end: the real client, the emulator, revisions running on the real engine."""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker.errors
import pytest

from loopctl import __version__
from loopctl.config import (
    CheckConfig,
    CloudRunConfig,
    Config,
    DeployConfig,
    HttpCheckConfig,
    ProbeConfig,
    SecretManagerRef,
    WebSocketAuth,
    WebSocketCheckConfig,
)
from loopctl.errors import LoopctlError
from loopctl.phases.base import Context, Event, PhaseResult, RunOptions
from loopctl.phases.cloudrun.deploy import CloudRunDeploy
from loopctl.phases.cloudrun.release import CloudRunRelease
from loopctl.phases.probe import ProbePhase
from loopctl.records.sections import DeploySection, PushSection, Section, Sections
from loopctl.records.store import Store
from loopctl.runner import run_iteration
from loopctl.secrets.references import EnvRef, JwtRef, JwtSpec
from tests.integration.agent_service import EVENTS
from tests.support.cloudrun_emulator import CloudRunEmulator
from tests.support.cloudrun_tokens import TokenEndpoints
from tests.support.realparts import BASE_IMAGE, RegistryHandle, docker_client, start_registry

SERVICE_SOURCE = Path(__file__).resolve().parents[2] / "examples" / "agent-service"
SECRET = "cloudrun-test-jwt-secret-7731"
PROJECT, REGION = "loop-proj", "europe-west1"
DEPLOY = CloudRunDeploy(poll_s=0.1, backoff_s=0.05)
RELEASE = CloudRunRelease(poll_s=0.1, backoff_s=0.05)


@dataclass(frozen=True)
class Images:
    """Two builds of the sample service, pushed and pinned by digest: v1 and a 'fixed' v2."""

    v1: str
    v2: str
    registry: RegistryHandle


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Images]:
    client = docker_client()
    with start_registry(tmp_path_factory.mktemp("registry")) as registry:
        repository = f"{registry.address}/agent-cloudrun"
        pushed = Images(_build_and_push(repository, "v1"), _build_and_push(repository, "v2"), registry)
        # Only the registry keeps v2: the emulator has to pull it, as Cloud Run pulls every image.
        client.images.remove(f"{repository}:v2")
        try:
            yield pushed
        finally:
            for reference in (f"{repository}:v1", pushed.v2):
                with contextlib.suppress(docker.errors.ImageNotFound):
                    client.images.remove(reference)


def _build_and_push(repository: str, version: str) -> str:
    client = docker_client()
    client.images.build(
        path=str(SERVICE_SOURCE),
        tag=f"{repository}:{version}",
        buildargs={"BASE_IMAGE": BASE_IMAGE},
        labels={"loopctl.test.version": version},  # a different config, so a different digest
        rm=True,
    )
    pushed = list(client.api.push(repository, tag=version, stream=True, decode=True))
    assert not [line for line in pushed if "error" in line], pushed
    digest = next(line["aux"]["Digest"] for line in pushed if "Digest" in line.get("aux", {}))
    return f"{repository}@{digest}"


@pytest.fixture
def emulator() -> Iterator[CloudRunEmulator]:
    with CloudRunEmulator(startup_timeout_s=20) as running:
        running.secrets["jwt-secret"] = SECRET  # Secret Manager of the emulated project
        yield running


@pytest.fixture(autouse=True)
def jwt_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOOPCTL_TEST_JWT", SECRET)


@dataclass
class Loop:
    """One test's iterations against one emulated service: builds each iteration's Context."""

    tmp_path: Path
    emulator: CloudRunEmulator
    service: str
    events: list[Event] = field(default_factory=list)
    number: int = 0

    def ctx(self, image: str, *, fault: str | None = None, **cloudrun: Any) -> Context:
        self.number += 1
        config = self.config(fault=fault, **cloudrun)
        store = Store(self.tmp_path / "iterations")
        return Context(
            config, store, self.number, self.events.append, sections=Sections(push=PushSection(pinned=image))
        )

    def config(self, *, fault: str | None = None, **cloudrun: Any) -> Config:
        env: dict[str, Any] = {
            "JWT_SECRET": SecretManagerRef(secret="jwt-secret"),
            **({"FAULT": fault} if fault else {}),
        }
        settings = {"api_endpoint": self.emulator.endpoint, "env": env, "public": True, **cloudrun}
        block = CloudRunConfig(project=PROJECT, region=REGION, service=self.service, **settings)
        return Config(
            project="cloudrun-test",
            iterations_dir=str(self.tmp_path / "iterations"),
            deploy=DeployConfig(target="cloudrun", cloudrun=block),
            probe=ProbeConfig(checks=CHECKS),
        )

    def state(self) -> dict[str, Any]:
        return self.emulator.service(PROJECT, REGION, self.service)

    def logged(self) -> list[str]:
        return [event.message for event in self.events if event.kind == "log"]


CHECKS = [
    CheckConfig(name="health", http=HttpCheckConfig(path="/health", expect_status=200, timeout=5)),
    CheckConfig(
        name="chat-events",
        websocket=WebSocketCheckConfig(
            path="/ws",
            auth=WebSocketAuth(token=JwtRef(jwt=JwtSpec(secret=EnvRef(env="LOOPCTL_TEST_JWT"), claims={"sub": "p"}))),
            send={"type": "user_message", "payload": {"content": "hello"}},
            expect_events=EVENTS,
            timeout=10,
        ),
    ),
]


def run(phase: Any, ctx: Context) -> PhaseResult:
    """Run one phase the way the runner hands results on to the next."""
    result: PhaseResult = phase.run(ctx)
    ctx.results[phase.name] = result
    if result.section is not None:
        ctx.sections.fill(result.section)
    return result


def as_kept(section: Section | None) -> dict[str, Any]:
    """A section as the record will keep it."""
    assert section is not None
    return section.model_dump(mode="json")


def deployed(loop: Loop, image: str, **settings: Any) -> Context:
    """Deploy and probe; the context holds both results, as the release phase will see them."""
    ctx = loop.ctx(image, **settings)
    run(DEPLOY, ctx)
    run(ProbePhase(), ctx)
    return ctx


def probe_passes(ctx: Context, url: str) -> bool:
    ctx = Context(ctx.config, ctx.store, ctx.number, ctx.on_event, sections=Sections(deploy=DeploySection(url=url)))
    return ProbePhase().run(ctx).status == "ok"


def test_deploy_probe_and_redeploy_a_fix(tmp_path: Path, images: Images, emulator: CloudRunEmulator) -> None:
    loop = Loop(tmp_path, emulator, "chat")
    first = deployed(loop, images.v1)
    section = as_kept(first.sections.deploy)
    assert re.fullmatch(r"chat-00001-[a-z]{3}", section["revision"])
    assert section["url"].startswith("http://127.0.0.1:") and section["previous_revision"] is None
    assert section["traffic"] == [{"revision": section["revision"], "percent": 100, "tag": None}]
    assert (section["target"], section["project"], section["region"], section["generation"]) == (
        "cloudrun",
        PROJECT,
        REGION,
        1,
    )
    assert section["env"] == ["JWT_SECRET"] and section["image"] == images.v1
    assert first.results["probe"].status == "ok", first.results["probe"].checks
    assert any(line.startswith("Ready: ") for line in loop.logged())
    # A revision name left in the template by another tool must not make Cloud Run refuse the update.
    emulator.name_revision_in_template(PROJECT, REGION, "chat", section["revision"])

    second = deployed(loop, images.v2)
    again = as_kept(second.sections.deploy)
    assert re.fullmatch(r"chat-00002-[a-z]{3}", again["revision"])
    assert again["previous_revision"] == section["revision"] and again["generation"] == 2
    assert again["url"] == loop.state()["uri"] == section["url"]  # a service's URL is stable
    assert second.results["probe"].status == "ok"
    state = loop.state()
    assert state["template"]["containers"][0]["image"] == images.v2
    assert (state["client"], state["clientVersion"]) == ("loopctl", __version__)  # the console shows who deployed
    # The secret travels as a Secret Manager reference; Cloud Run resolves it (the chat-events check needs it).
    assert {"name": "JWT_SECRET", "valueSource": {"secretKeyRef": {"secret": "jwt-secret", "version": "latest"}}} in (
        state["template"]["containers"][0]["env"]
    )
    assert again["log_uri"].startswith("https://console.cloud.google.com/logs/") and again["log_uri"].endswith(
        again["revision"]
    )
    assert again["console_url"] == (
        f"https://console.cloud.google.com/run/detail/{REGION}/chat/revisions?project={PROJECT}"
    )
    written = json.dumps([section, again, emulator.bodies]) + "".join(loop.logged())
    assert SECRET not in written


def test_a_crashing_revision_fails_the_phase_at_once_and_the_old_one_keeps_serving(
    tmp_path: Path, images: Images, emulator: CloudRunEmulator
) -> None:
    loop = Loop(tmp_path, emulator, "crashy")
    good = as_kept(deployed(loop, images.v1).sections.deploy)
    # A failed reconciliation never brings observedGeneration up to generation: waiting for it would run into the
    # deadline and say deploy_timeout. The deadline here is long enough for the revision to fail well inside it.
    config = loop.config(fault="bogus", ready_timeout=45)  # the service exits 2 at start: FAULT must name a known fault
    result = run_iteration(
        config,
        [CloudRunDeploy(poll_s=0.1)],
        render=lambda *_: "report",
        on_event=loop.events.append,
        options=RunOptions(image=images.v1),
    )
    phase = result.record.phases[0]
    assert phase.status == "failed" and phase.error is not None
    assert phase.error.kind == "revision_not_ready"
    assert re.search(
        r"revision crashy-00002-[a-z]{3} is not ready \(HEALTH_CHECK_CONTAINER_ERROR\)", phase.error.message
    )
    assert "failed to start and listen on the port defined provided by the PORT=8080" in phase.error.message
    assert re.search(r"its logs: https://console\.cloud\.google\.com/logs/\S+crashy-00002-[a-z]{3}", phase.error.hint)
    state = loop.state()
    assert (state["generation"], state["observedGeneration"], state["reconciling"]) == ("2", "1", False)
    assert state["latestReadyRevision"].endswith(good["revision"])
    assert probe_passes(loop.ctx(images.v1), loop.state()["uri"])
    written = "".join(path.read_text() for path in (tmp_path / "iterations").iterdir() if path.is_file())
    assert "crashy-00002" in written and SECRET not in written


def test_a_secret_the_revision_may_not_read_names_the_role_and_the_account(
    tmp_path: Path, images: Images, emulator: CloudRunEmulator
) -> None:
    emulator.plane.denied_secrets.add("jwt-secret")
    with pytest.raises(LoopctlError) as caught:
        run(DEPLOY, Loop(tmp_path, emulator, "nosecret").ctx(images.v1))
    assert caught.value.kind == "secret_access_denied"
    assert "Permission denied on secret" in caught.value.message
    hint = caught.value.hint
    assert "roles/secretmanager.secretAccessor" in hint and "fix the container" not in hint
    assert "000000000000-compute@developer.gserviceaccount.com" in hint and "jwt-secret" in hint


def test_an_image_that_does_not_exist_is_named(tmp_path: Path, images: Images, emulator: CloudRunEmulator) -> None:
    missing = f"{images.registry.address}/agent-cloudrun@sha256:{'0' * 64}"
    with pytest.raises(LoopctlError) as caught:
        DEPLOY.run(Loop(tmp_path, emulator, "ghost").ctx(missing))
    assert caught.value.kind == "revision_not_ready"
    assert f"(CONTAINER_MISSING): Image '{missing}' not found." in caught.value.message


def test_a_revision_pinned_out_of_traffic_is_caught(tmp_path: Path, images: Images, emulator: CloudRunEmulator) -> None:
    loop = Loop(tmp_path, emulator, "pinned")
    first = as_kept(run(DEPLOY, loop.ctx(images.v1)).section)
    assert first is not None
    emulator.pin_traffic(PROJECT, REGION, "pinned", first["revision"])
    with pytest.raises(LoopctlError) as caught:
        run(DEPLOY, loop.ctx(images.v2))
    assert caught.value.kind == "zero_traffic"
    assert re.search(
        rf"revision pinned-00002-[a-z]{{3}} is ready but serves 0% .*{first['revision']} 100%", caught.value.message
    )
    assert "--to-latest" in caught.value.hint
    allowed = as_kept(run(DEPLOY, loop.ctx(images.v2, allow_zero_traffic=True)).section)
    assert allowed is not None and allowed["url"] == first["url"]
    assert {share["revision"]: share["percent"] for share in allowed["traffic"]} == {first["revision"]: 100}


def test_preview_promotes_only_a_revision_that_passed(
    tmp_path: Path, images: Images, emulator: CloudRunEmulator
) -> None:
    loop = Loop(tmp_path, emulator, "preview")
    stable = as_kept(deployed(loop, images.v1).sections.deploy)

    broken = deployed(loop, images.v1, fault="auth", strategy="preview")
    tagged = as_kept(broken.sections.deploy)
    assert tagged["url"] != stable["url"] and tagged["url"] != loop.state()["uri"]
    assert {"revision": tagged["revision"], "percent": 0, "tag": "loopctl"} in tagged["traffic"]
    assert broken.results["probe"].status == "failed"  # the probe reached the new code: it has the auth fault
    assert as_kept(run(RELEASE, broken).section) == {
        "action": "not_promoted",
        "revision": tagged["revision"],
        "reason": "probe failed: chat-events",
        "tag_removed": True,
    }
    assert loop.state()["uri"] == stable["url"] and probe_passes(broken, loop.state()["uri"])

    fixed = deployed(loop, images.v2, strategy="preview")
    assert fixed.results["probe"].status == "ok"
    released = as_kept(run(RELEASE, fixed).section)
    assert released is not None and released["action"] == "promoted"
    assert released["url"] == loop.state()["uri"] == stable["url"] and probe_passes(fixed, released["url"])
    assert loop.state()["trafficStatuses"] == [{"type": 1, "percent": 100}]  # back on LATEST, tag dropped


def test_promotion_sends_only_the_traffic_not_the_template_as_read(
    tmp_path: Path, images: Images, emulator: CloudRunEmulator
) -> None:
    """The service as read carries Cloud Run's defaults, which the request that named the preview revision did not:
    sent back naming that revision, it is a different configuration under a taken name (409)."""
    loop = Loop(tmp_path, emulator, "firstpreview")
    preview = deployed(loop, images.v1, strategy="preview")  # a new service: the create request names the revision
    assert preview.results["probe"].status == "ok", preview.results["probe"].checks
    released = as_kept(run(RELEASE, preview).section)
    assert released is not None and released["action"] == "promoted"
    assert loop.state()["trafficStatuses"] == [{"type": 1, "percent": 100}]
    promotion = emulator.bodies[-1]
    assert not promotion.get("template", {}).get("revision")
    assert [key for key in emulator.update_masks[-1]] == ["traffic", "annotations"]
    assert not any("re-reading the service" in line for line in loop.logged())


def test_a_failed_preview_drops_its_tag_and_the_next_direct_deploy_serves(
    tmp_path: Path, images: Images, emulator: CloudRunEmulator
) -> None:
    loop = Loop(tmp_path, emulator, "unpin")
    stable = as_kept(deployed(loop, images.v1).sections.deploy)
    broken = deployed(loop, images.v1, fault="auth", strategy="preview")
    released = as_kept(run(RELEASE, broken).section)
    assert released is not None and released["action"] == "not_promoted" and released["tag_removed"] is True
    assert [key for key in emulator.update_masks[-1]] == ["traffic", "annotations"]  # the template is not resent
    assert not emulator.bodies[-1].get("template", {}).get("revision")
    assert not [status for status in loop.state()["trafficStatuses"] if status.get("tag") == "loopctl"]
    assert loop.state()["annotations"] == {"loopctl/preview-pinned-to": stable["revision"]}
    assert probe_passes(broken, loop.state()["uri"])  # the stable revision still serves

    direct = deployed(loop, images.v2)
    assert direct.results["probe"].status == "ok"
    assert direct.sections.deploy.restored_latest == stable["revision"]
    assert loop.state()["trafficStatuses"] == [{"type": 1, "percent": 100}]
    assert not loop.state().get("annotations")


def test_a_direct_deploy_after_a_preview_whose_revision_crashed_serves_again(
    tmp_path: Path, images: Images, emulator: CloudRunEmulator
) -> None:
    loop = Loop(tmp_path, emulator, "crashpreview")
    stable = as_kept(deployed(loop, images.v1).sections.deploy)
    with pytest.raises(LoopctlError) as caught:
        run(DEPLOY, loop.ctx(images.v1, fault="bogus", strategy="preview", ready_timeout=45))  # exits at start
    assert caught.value.kind == "revision_not_ready"
    direct = deployed(loop, images.v2)
    assert direct.results["probe"].status == "ok"
    assert direct.sections.deploy.restored_latest == stable["revision"]
    assert loop.state()["trafficStatuses"] == [{"type": 1, "percent": 100}]


def test_a_direct_deploy_after_an_abandoned_preview_lifts_loopctls_pin_and_tag(
    tmp_path: Path, images: Images, emulator: CloudRunEmulator
) -> None:
    loop = Loop(tmp_path, emulator, "abandoned")
    stable = as_kept(deployed(loop, images.v1).sections.deploy)
    run(DEPLOY, loop.ctx(images.v2, strategy="preview"))  # interrupted before the probe: never released
    direct = deployed(loop, images.v2)
    assert direct.results["probe"].status == "ok"
    assert direct.sections.deploy.restored_latest == stable["revision"]
    assert loop.state()["trafficStatuses"] == [{"type": 1, "percent": 100}]


def test_preview_tags_the_revision_it_named_not_latest(
    tmp_path: Path, images: Images, emulator: CloudRunEmulator
) -> None:
    loop = Loop(tmp_path, emulator, "named")
    deployed(loop, images.v1)
    ours = as_kept(run(DEPLOY, loop.ctx(images.v2, strategy="preview")).section)
    assert ours is not None and re.fullmatch(r"named-00002-[a-z]{3}", ours["revision"])
    assert emulator.bodies[-1]["template"]["revision"] == ours["revision"]  # loopctl named it in the request
    tag = next(status for status in loop.state()["trafficStatuses"] if status.get("tag") == "loopctl")
    assert (tag["type"], tag["revision"]) == (2, ours["revision"])
    # Someone deploys a broken revision with another tool before our probe runs: the tag still serves our code.
    deploy_elsewhere(emulator, "named", images.v1, fault="auth")
    assert loop.state()["latestCreatedRevision"].rsplit("/", 1)[-1] != ours["revision"]
    assert probe_passes(loop.ctx(images.v2), ours["url"])


def deploy_elsewhere(emulator: CloudRunEmulator, name: str, image: str, *, fault: str) -> None:
    """A deploy by another tool (the console, gcloud): a new template, traffic left as it is."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import run_v2

    client = run_v2.ServicesClient(
        transport="rest", client_options={"api_endpoint": emulator.endpoint}, credentials=AnonymousCredentials()
    )
    service = client.get_service(name=f"projects/{PROJECT}/locations/{REGION}/services/{name}")
    service.template.revision = ""
    service.template.containers[0].image = image
    service.template.containers[0].env.append(run_v2.EnvVar(name="FAULT", value=fault))
    client.update_service(service=service).result(timeout=60)


def test_rollback_restores_the_previous_revision(tmp_path: Path, images: Images, emulator: CloudRunEmulator) -> None:
    loop = Loop(tmp_path, emulator, "rollback")
    good = deployed(loop, images.v1, rollback_on_failure=True)
    assert as_kept(run(RELEASE, good).section) == {
        "action": "none",
        "revision": good.sections.deploy.revision,
        "reason": "probe passed",
    }
    bad = deployed(loop, images.v1, fault="auth", rollback_on_failure=True)
    assert bad.results["probe"].status == "failed"
    released = as_kept(run(RELEASE, bad).section)
    assert released is not None and released["action"] == "rolled_back"
    assert released["to"] == good.sections.deploy.revision == bad.sections.deploy.previous_revision
    assert loop.state()["trafficStatuses"] == [{"type": 2, "revision": released["to"], "percent": 100}]
    assert loop.state()["annotations"] == {"loopctl/rolled-back-to": released["to"]}
    assert probe_passes(bad, loop.state()["uri"])

    # Cloud Run keeps the pin for every later deploy: loopctl's next direct deploy lifts the pin it made.
    fixed = deployed(loop, images.v2, rollback_on_failure=True)
    section = as_kept(fixed.sections.deploy)
    assert section["restored_latest"] == released["to"] and fixed.results["probe"].status == "ok"
    assert loop.state()["trafficStatuses"] == [{"type": 1, "percent": 100}]
    assert "annotations" not in loop.state() or not loop.state()["annotations"]
    assert any("restoring LATEST 100%" in line for line in loop.logged())


def test_transient_errors_are_retried_and_shown(tmp_path: Path, images: Images, emulator: CloudRunEmulator) -> None:
    loop = Loop(tmp_path, emulator, "flaky")
    emulator.fail_next(429)
    emulator.fail_next(503, 2)
    result = run(DEPLOY, loop.ctx(images.v1))
    assert result.status == "ok"
    retries = [line for line in loop.logged() if "retry" in line]
    assert [line.split(" — ")[1].split(" in ")[0] for line in retries] == ["retry 1/5", "retry 2/5", "retry 3/5"]
    assert "get service: 429 Quota exceeded" in retries[0] and "503 The service is currently unavailable" in retries[1]
    assert result.section is not None and result.section.retries == 3


def test_an_operation_that_never_finishes_hits_the_deadline(
    tmp_path: Path, images: Images, emulator: CloudRunEmulator
) -> None:
    emulator.stall_operations = True
    began = time.monotonic()
    with pytest.raises(LoopctlError) as caught:
        DEPLOY.run(Loop(tmp_path, emulator, "stuck").ctx(images.v1, ready_timeout=1.5))
    assert caught.value.kind == "deploy_timeout" and "1.5s deadline" in caught.value.message
    assert 1.4 < time.monotonic() - began < 5


def test_api_errors_are_one_line_with_a_hint(tmp_path: Path, images: Images, emulator: CloudRunEmulator) -> None:
    loop = Loop(tmp_path, emulator, "denied")
    denied = (
        "Permission 'run.services.get' denied on resource 'projects/loop-proj/locations/europe-west1/services/denied'"
    )
    emulator.fail_next(403, message=denied)
    with pytest.raises(LoopctlError) as caught:
        DEPLOY.run(loop.ctx(images.v1))
    assert (caught.value.kind, caught.value.message) == (
        "permission_denied",
        f"Cloud Run API: get service: 403 {denied}",
    )
    assert "roles/run.developer" in caught.value.hint
    with pytest.raises(LoopctlError) as missing:
        DEPLOY.run(loop.ctx(images.v1, allow_missing=False))
    assert missing.value.kind == "not_found" and "allow_missing" in missing.value.hint


def test_a_first_revision_that_fails_leaves_nothing_serving(
    tmp_path: Path, images: Images, emulator: CloudRunEmulator
) -> None:
    emulator.fail_next_revision()
    with pytest.raises(LoopctlError) as caught:
        DEPLOY.run(Loop(tmp_path, emulator, "first").ctx(images.v1))
    assert caught.value.kind == "revision_not_ready"
    assert re.match(
        r"revision first-00001-[a-z]{3} is not ready \(HEALTH_CHECK_CONTAINER_ERROR\): ", caught.value.message
    )
    assert emulator.service(PROJECT, REGION, "first").get("latestReadyRevision") is None


def test_an_unchanged_deploy_makes_no_new_revision(tmp_path: Path, images: Images, emulator: CloudRunEmulator) -> None:
    loop = Loop(tmp_path, emulator, "same")
    first = as_kept(deployed(loop, images.v1).sections.deploy)
    again = deployed(loop, images.v1)
    section = as_kept(again.sections.deploy)
    assert section["reused"] is True and section["revision"] == first["revision"]
    assert loop.state()["generation"] in (1, "1")
    assert again.results["probe"].status == "ok"
    forced = loop.ctx(images.v1)
    forced.options = RunOptions(no_cache=True)
    forced_section = as_kept(run(DEPLOY, forced).section)
    # --no-cache sends the update anyway; an identical template makes no new revision, only a new generation.
    assert forced_section is not None and "reused" not in forced_section
    assert int(loop.state()["generation"]) == 2


@pytest.mark.parametrize("answer", [(409, "ABORTED"), (400, "FAILED_PRECONDITION"), (412, "FAILED_PRECONDITION")])
def test_an_etag_race_is_retried_after_reading_the_service_again(
    tmp_path: Path, images: Images, emulator: CloudRunEmulator, answer: tuple[int, str]
) -> None:
    loop = Loop(tmp_path, emulator, "race")
    deployed(loop, images.v1)
    emulator.race_next_update(answer=answer)  # someone else writes between our read and our write
    result = run(DEPLOY, loop.ctx(images.v2))
    assert result.status == "ok" and result.section is not None and result.section.retries == 1
    assert any("re-reading the service, retry 1/5" in line for line in loop.logged())
    writes = [index for index, (method, _) in enumerate(emulator.requests) if method == "PATCH"]
    assert (
        len(writes) == 2
        and ("GET", f"/v2/projects/{PROJECT}/locations/{REGION}/services/race")
        in (emulator.requests[writes[0] + 1 : writes[1]])
    )
    assert loop.state()["labels"]["touched"] == "elsewhere"  # the other writer's change survived
    assert loop.state()["template"]["containers"][0]["image"] == images.v2


def test_an_etag_race_that_never_ends_is_bounded(tmp_path: Path, images: Images, emulator: CloudRunEmulator) -> None:
    loop = Loop(tmp_path, emulator, "racing")
    deployed(loop, images.v1)
    emulator.race_next_update(100, answer=(412, "FAILED_PRECONDITION"))
    with pytest.raises(LoopctlError) as caught:
        run(DEPLOY, loop.ctx(images.v2, ready_timeout=60))
    assert caught.value.kind == "conflict" and "412" in caught.value.message
    assert len([method for method, _ in emulator.requests if method == "PATCH"]) == 6  # the first and 5 retries


def test_a_write_that_failed_is_retried_only_after_a_fresh_read(
    tmp_path: Path, images: Images, emulator: CloudRunEmulator
) -> None:
    loop = Loop(tmp_path, emulator, "rewrite")
    emulator.fail_next(500, method="GET")  # a read: retried with backoff
    emulator.fail_next(503, method="POST")  # a write: retried only after the service was read again
    result = run(DEPLOY, loop.ctx(images.v1))
    assert result.status == "ok" and result.section is not None and result.section.retries == 2
    methods = [method for method, _ in emulator.requests]
    assert methods[:5] == ["GET", "GET", "POST", "GET", "POST"]


def test_a_request_without_an_answer_times_out_and_is_retried(
    tmp_path: Path, images: Images, emulator: CloudRunEmulator
) -> None:
    loop = Loop(tmp_path, emulator, "slow")
    emulator.delay_next(3)
    emulator.fail_next(504, method="GET")
    result = run(CloudRunDeploy(poll_s=0.1, backoff_s=0.05, call_timeout_s=1), loop.ctx(images.v1))
    assert result.status == "ok"
    retries = [line for line in loop.logged() if "— retry" in line]
    assert retries[0].startswith("get service: no answer within 1s — retry 1/5")
    assert retries[1].startswith("get service: 504 ")


@pytest.mark.parametrize(
    ("reason", "metadata", "kind", "hint"),
    [
        (
            "SERVICE_DISABLED",
            {"consumer": "projects/123456789012", "service": "run.googleapis.com"},
            "api_disabled",
            "enable run.googleapis.com in project 123456789012",
        ),
        (
            "IAM_PERMISSION_DENIED",
            {"permission": "iam.serviceaccounts.actAs"},
            "permission_denied",
            "roles/iam.serviceAccountUser",
        ),
    ],
)
def test_the_error_info_reason_picks_the_hint(
    tmp_path: Path,
    images: Images,
    emulator: CloudRunEmulator,
    reason: str,
    metadata: dict[str, str],
    kind: str,
    hint: str,
) -> None:
    message = "Cloud Run Admin API has not been used in project 123456789012 before or it is disabled."
    emulator.fail_next(403, message=message, status_name="PERMISSION_DENIED", reason=reason, metadata=metadata)
    with pytest.raises(LoopctlError) as caught:
        DEPLOY.run(Loop(tmp_path, emulator, "denied").ctx(images.v1))
    assert (caught.value.kind, caught.value.message) == (kind, f"Cloud Run API: get service: 403 {message}")
    assert hint in caught.value.hint


def test_a_revision_name_taken_meanwhile_is_retried_with_a_new_name(
    tmp_path: Path, images: Images, emulator: CloudRunEmulator
) -> None:
    loop = Loop(tmp_path, emulator, "taken")
    deployed(loop, images.v1)
    emulator.fail_next(409, message="Revision named 'x' already exists.", status_name="ALREADY_EXISTS", method="PATCH")
    result = run(DEPLOY, loop.ctx(images.v2, strategy="preview"))
    assert result.status == "ok" and result.section is not None
    sent = [body["template"]["revision"] for body in emulator.bodies[-2:]]
    assert sent[0] != sent[1] and sent[1] == result.section.revision


def test_a_traffic_target_naming_an_unknown_revision_fails_the_operation(
    tmp_path: Path, images: Images, emulator: CloudRunEmulator
) -> None:
    loop = Loop(tmp_path, emulator, "ghostly")
    first = as_kept(deployed(loop, images.v1).sections.deploy)
    emulator.pin_traffic(PROJECT, REGION, "ghostly", "ghostly-00099-zzz")
    with pytest.raises(LoopctlError) as caught:
        run(DEPLOY, loop.ctx(images.v2, ready_timeout=45))
    assert caught.value.kind == "deploy_failed"
    assert "Revision 'ghostly-00099-zzz' does not exist" in caught.value.message
    state = loop.state()
    assert int(state["observedGeneration"]) < int(state["generation"]) and not state["reconciling"]
    assert {share["revision"] for share in first["traffic"]} == {first["revision"]}


def test_a_service_without_its_default_url_needs_checks_with_a_url(
    tmp_path: Path, images: Images, emulator: CloudRunEmulator
) -> None:
    loop = Loop(tmp_path, emulator, "nourl")
    deployed(loop, images.v1)
    emulator.disable_default_uri(PROJECT, REGION, "nourl")
    with pytest.raises(LoopctlError) as caught:
        run(DEPLOY, loop.ctx(images.v2))
    assert caught.value.kind == "no_url"
    assert "default_uri_disabled: no run.app URL to probe for health, chat-events" in caught.value.message


@pytest.fixture
def google() -> Iterator[TokenEndpoints]:
    with TokenEndpoints() as endpoints:
        yield endpoints


@pytest.fixture
def private(google: TokenEndpoints) -> Iterator[CloudRunEmulator]:
    """An emulator whose front ends verify ID tokens signed by the test's `google` key."""
    with CloudRunEmulator(startup_timeout_s=20, id_token_keys=google.public_keys) as running:
        running.secrets["jwt-secret"] = SECRET
        yield running


def credentials_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, document: dict[str, Any]) -> None:
    path = tmp_path / "adc.json"
    path.write_text(json.dumps(document))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))


def test_a_private_service_is_probed_with_an_id_token(
    tmp_path: Path, images: Images, private: CloudRunEmulator, google: TokenEndpoints, monkeypatch: pytest.MonkeyPatch
) -> None:
    prober = "prober@loop-proj.iam.gserviceaccount.com"
    credentials_file(tmp_path, monkeypatch, google.service_account_file(prober))
    private.grant_invoker(prober)
    loop = Loop(tmp_path, private, "secure")
    ctx = deployed(loop, images.v1, public=False)
    assert ctx.results["probe"].status == "ok", ctx.results["probe"].checks
    assert ctx.sections.deploy.public is False and "invokerIamDisabled" not in loop.state()
    assert ctx.sections.deploy.audience == loop.state()["uri"]
    assert private.front_end_answers == [] and "/token" in google.requests

    # Without the invoker role, Google's front end answers its 403 page; the hint names what to change.
    private.invokers.clear()
    refused = deployed(loop, images.v1, public=False).results["probe"]
    assert refused.status == "failed" and private.front_end_answers and set(private.front_end_answers) == {403}
    outcome = refused.checks[0].outcome
    assert outcome.category == "iam_denied" and "roles/run.invoker" in outcome.hint


def test_a_preview_of_a_private_service_uses_the_service_url_as_audience(
    tmp_path: Path, images: Images, private: CloudRunEmulator, google: TokenEndpoints, monkeypatch: pytest.MonkeyPatch
) -> None:
    subject_token = tmp_path / "github-oidc.jwt"
    subject_token.write_text("eyJhbGciOiJSUzI1NiJ9.github-actions-oidc-token.signature")
    deployer = "deployer@loop-proj.iam.gserviceaccount.com"
    credentials_file(tmp_path, monkeypatch, google.federation_file(str(subject_token), "repo:org/app", deployer))
    private.grant_invoker(deployer)
    loop = Loop(tmp_path, private, "staged")
    deployed(loop, images.v1, public=False)
    preview = deployed(loop, images.v2, public=False, strategy="preview")
    section = as_kept(preview.sections.deploy)
    assert section["url"] != loop.state()["uri"] and section["audience"] == loop.state()["uri"]
    assert preview.results["probe"].status == "ok", preview.results["probe"].checks
    assert "/v1/token" in google.requests  # the federated token came from STS, then IAM Credentials
    assert f"/v1/projects/-/serviceAccounts/{deployer}:generateIdToken" in google.requests


def test_public_true_makes_a_new_service_public(
    tmp_path: Path, images: Images, private: CloudRunEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "none.json"))  # no token can be minted
    loop = Loop(tmp_path, private, "open")
    ctx = deployed(loop, images.v1, public=True)
    assert ctx.sections.deploy.made_public is True and ctx.sections.deploy.public is True
    assert loop.state()["invokerIamDisabled"] is True
    assert ctx.results["probe"].status == "ok"


def test_public_true_on_an_existing_private_service_turns_the_invoker_check_off(
    tmp_path: Path, images: Images, private: CloudRunEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "none.json"))  # no token can be minted
    loop = Loop(tmp_path, private, "wasprivate")
    run(DEPLOY, loop.ctx(images.v1, public=False))  # made private (by loopctl here; by anyone in real life)
    assert not loop.state().get("invokerIamDisabled")
    ctx = deployed(loop, images.v2, public=True)
    assert ctx.sections.deploy.made_public is True and loop.state()["invokerIamDisabled"] is True
    assert ctx.results["probe"].status == "ok"


def test_a_service_made_public_by_an_all_users_binding_is_reported_public(
    tmp_path: Path, images: Images, private: CloudRunEmulator
) -> None:
    loop = Loop(tmp_path, private, "bound")
    assert as_kept(run(DEPLOY, loop.ctx(images.v1, public=False)).section)["public"] is False
    private.grant_invoker("allUsers")  # `gcloud run services add-iam-policy-binding --member=allUsers`
    section = as_kept(run(DEPLOY, loop.ctx(images.v2, public=False)).section)
    assert section is not None and section["public"] is True and not loop.state().get("invokerIamDisabled")


def test_public_true_without_set_iam_policy_names_the_permission_and_role(
    tmp_path: Path, images: Images, private: CloudRunEmulator
) -> None:
    loop = Loop(tmp_path, private, "denied")
    run(DEPLOY, loop.ctx(images.v1, public=False))
    private.plane.can_set_iam_policy = False
    with pytest.raises(LoopctlError) as caught:
        run(DEPLOY, loop.ctx(images.v2, public=True))
    assert caught.value.kind == "permission_denied"
    assert "roles/run.admin" in caught.value.hint and "run.services.setIamPolicy" in caught.value.hint


@pytest.mark.parametrize(
    ("service_id", "labels", "image", "message"),
    [
        ("a" * 50, {}, "gcr.io/p/chat", "cannot be longer than 49 characters"),
        ("chat", {"run.googleapis.com/launch-stage": "BETA"}, "gcr.io/p/chat", "uses a reserved namespace"),
        ("chat", {}, "ghcr.io/org/chat", "where host is one of [region.]gcr.io, [region-]docker.pkg.dev or docker.io"),
    ],
)
def test_the_emulator_refuses_what_cloud_run_refuses(
    emulator: CloudRunEmulator, service_id: str, labels: dict[str, str], image: str, message: str
) -> None:
    """Through the official client, as loopctl would send it were its own checks bypassed."""
    from google.api_core import exceptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import run_v2

    client = run_v2.ServicesClient(
        transport="rest", client_options={"api_endpoint": emulator.endpoint}, credentials=AnonymousCredentials()
    )
    service = run_v2.Service(
        labels=labels, template=run_v2.RevisionTemplate(containers=[run_v2.Container(image=image)])
    )
    with pytest.raises(exceptions.BadRequest) as caught:
        client.create_service(parent=f"projects/{PROJECT}/locations/{REGION}", service=service, service_id=service_id)
    assert message in str(caught.value.message)
    assert emulator.plane.services == {}
