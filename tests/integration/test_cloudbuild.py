"""`build.builder: cloudbuild` against the Cloud Build and Cloud Storage emulators, the real engine and registry."""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from loopctl.config import BuildConfig, CloudBuildConfig, Config, PushConfig
from loopctl.errors import LoopctlError
from loopctl.phases.base import Context, PhaseResult, RunOptions
from loopctl.phases.cloudbuild.build import CloudBuildPhase
from loopctl.phases.cloudbuild.verify import CloudBuildPushPhase
from loopctl.records.store import Store
from tests.support.cloudbuild_emulator import CloudBuildEmulator, cancels, polls, submissions
from tests.support.events import Recorder, logged
from tests.support.gcs_emulator import GcsEmulator
from tests.support.realparts import BASE_IMAGE, RegistryHandle, start_registry

REPO = Path(__file__).resolve().parents[2]
SERVICE = REPO / "examples" / "agent-service"
ESC = "\x1b"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryHandle]:
    with start_registry(tmp_path_factory.mktemp("registry")) as handle:
        yield handle


@pytest.fixture
def gcs() -> Iterator[GcsEmulator]:
    with GcsEmulator() as emulator:
        yield emulator


@pytest.fixture
def cloudbuild(gcs: GcsEmulator) -> Iterator[CloudBuildEmulator]:
    with CloudBuildEmulator(gcs) as emulator:
        yield emulator


@pytest.fixture
def source(tmp_path: Path) -> Path:
    target = tmp_path / "agent-service"
    shutil.copytree(SERVICE, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def image_for(registry: RegistryHandle, tmp_path: Path) -> str:
    return f"{registry.address}/cb-{''.join(ch for ch in tmp_path.name.lower() if ch.isalnum())[-16:]}"


def make_ctx(
    tmp_path: Path,
    source: Path,
    image: str,
    cloudbuild: CloudBuildEmulator,
    *,
    number: int = 1,
    timeout: int = 600,
    auth: str = "none",
) -> Context:
    config = Config(
        project="t",
        iterations_dir=str(tmp_path / "iterations"),
        build=BuildConfig(
            context=str(source),
            image=image,
            args={"BASE_IMAGE": BASE_IMAGE},
            builder="cloudbuild",
            cloudbuild=CloudBuildConfig(
                project="proj",
                timeout=timeout,
                api_endpoint=cloudbuild.endpoint,
                storage_endpoint=cloudbuild.storage.endpoint,
            ),
        ),
        push=PushConfig(auth=auth),  # type: ignore[arg-type]
    )
    return Context(config, Store(tmp_path / "iterations"), number, Recorder())


def build(ctx: Context) -> PhaseResult:
    result = CloudBuildPhase(poll_s=0.2, tail_s=0.05, backoff_s=0.01).run(ctx)
    if result.section is not None:
        ctx.sections.fill(result.section)
    return result


def only_build(cloudbuild: CloudBuildEmulator) -> dict[str, object]:
    assert len(cloudbuild.builds) == 1
    return cloudbuild.build(next(iter(cloudbuild.builds)))


# --- through the CLI, as a user runs it -----------------------------------------------------------

CONFIG = """\
project: cb
iterations_dir: iterations
build:
  context: {context}
  image: {image}
  args: {{BASE_IMAGE: "{base}"}}
  builder: cloudbuild
  cloudbuild: {{project: proj, region: europe-west1, api_endpoint: "{api}", storage_endpoint: "{storage}"}}
push: {{auth: none}}
"""


def write_config(folder: Path, source: Path, image: str, cloudbuild: CloudBuildEmulator) -> Path:
    path = folder / "config.yaml"
    path.write_text(
        CONFIG.format(
            context=source, image=image, base=BASE_IMAGE, api=cloudbuild.endpoint, storage=cloudbuild.storage.endpoint
        )
    )
    return path


def loopctl(config: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "loopctl", "iterate", "--config", str(config), "--json", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=config.parent,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def finished(process: subprocess.Popen[str]) -> tuple[int, dict[str, object], str]:
    out, err = process.communicate(timeout=240)
    return process.returncode, json.loads(out)["data"] if out.strip() else {}, err


def test_a_changed_build_then_an_unchanged_one_through_the_cli(
    tmp_path: Path, source: Path, registry: RegistryHandle, cloudbuild: CloudBuildEmulator
) -> None:
    image = image_for(registry, tmp_path)
    config = write_config(tmp_path, source, image, cloudbuild)
    _, record, err = finished(loopctl(config))
    build_section, push = record["build"], record["push"]
    assert isinstance(build_section, dict) and isinstance(push, dict), err
    assert build_section["builder"] == "cloudbuild" and build_section["cached"] == "no"
    assert build_section["build_id"] in cloudbuild.builds
    assert str(build_section["log_url"]).startswith("https://console.cloud.google.com/cloud-build/builds")
    assert isinstance(build_section["queued_s"], float) and isinstance(build_section["working_s"], float)
    held = registry.manifest_digest(image.split("/", 1)[1], "loopctl-0001")
    assert push["digest"] == held == build_section["digest"] and push["pinned"] == f"{image}@{held}"
    submitted = cloudbuild.build(str(build_section["build_id"]))
    assert ("POST", "/v1/projects/proj/locations/europe-west1/builds") in cloudbuild.requests  # the regional URL
    assert (
        "GET",
        f"/v1/projects/proj/locations/europe-west1/builds/{build_section['build_id']}",
    ) in cloudbuild.requests
    steps = submitted["steps"]
    assert [step["id"] for step in steps] == ["build"]  # nothing to take the cache from yet
    args = steps[0]["args"]
    assert args[args.index("--build-arg") + 1] == f"BASE_IMAGE={BASE_IMAGE}"
    assert args[args.index("--platform") + 1] == "linux/amd64" and args[-1] == "."
    assert submitted["images"] == [build_section["cache_tag"], *(f"{image}:{tag}" for tag in build_section["tags"])]
    log = (tmp_path / "iterations" / "0001.build.log").read_text()
    assert 'Step #0 - "build": Step 1/' in log and "PUSH" in log
    report = (tmp_path / "iterations" / "0001.md").read_text()
    assert f"builds;region=europe-west1/{build_section['build_id']}?project=proj" in report
    uploads, calls = cloudbuild.storage.uploads(), len(cloudbuild.requests)
    assert uploads == 1

    storage_calls = len(cloudbuild.storage.requests)
    _, again, err = finished(loopctl(config))
    assert isinstance(again["build"], dict) and isinstance(again["push"], dict), err
    assert again["build"]["cached"] == "remote" and again["build"]["build_id"] is None
    assert again["push"]["digest"] == held and again["push"]["uploaded"] is False
    assert len(cloudbuild.requests) == calls and len(cloudbuild.storage.requests) == storage_calls
    assert not (tmp_path / "iterations" / "0002.build.log").exists()


def test_the_next_changed_build_takes_its_cache_from_the_previous_image(
    tmp_path: Path, source: Path, registry: RegistryHandle, cloudbuild: CloudBuildEmulator
) -> None:
    image = image_for(registry, tmp_path)
    config = write_config(tmp_path, source, image, cloudbuild)
    _, first, err = finished(loopctl(config))
    assert isinstance(first["push"], dict), err
    (source / "agent_service" / "changed.py").write_text("CHANGED = True\n")
    _, second, err = finished(loopctl(config))
    assert isinstance(second["build"], dict), err
    steps = cloudbuild.build(str(second["build"]["build_id"]))["steps"]
    previous = first["push"]["pinned"]
    assert steps[0]["id"] == "pull-cache" and steps[0]["args"] == ["pull", previous] and steps[0]["allowFailure"]
    args = steps[1]["args"]
    assert args[args.index("--cache-from") + 1] == previous
    assert cloudbuild.storage.uploads() == 2  # a changed context is a new object


def interrupted_while_working(
    tmp_path: Path, source: Path, registry: RegistryHandle, cloudbuild: CloudBuildEmulator
) -> tuple[int, dict[str, object], str]:
    """`loopctl iterate`, sent SIGINT (Ctrl-C) once it is polling a build that stays WORKING."""
    cloudbuild.hold_work.set()
    process = loopctl(write_config(tmp_path, source, image_for(registry, tmp_path), cloudbuild))
    deadline = time.monotonic() + 60
    while cloudbuild.count(polls) < 1 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    return finished(process)


def test_ctrl_c_cancels_the_remote_build_and_the_iteration_is_aborted(
    tmp_path: Path, source: Path, registry: RegistryHandle, cloudbuild: CloudBuildEmulator
) -> None:
    code, record, err = interrupted_while_working(tmp_path, source, registry, cloudbuild)
    assert code == 130 and record["status"] == "aborted", err
    assert cloudbuild.count(cancels) == 1
    built = only_build(cloudbuild)
    assert built["status"] == "CANCELLED"
    assert isinstance(record["build"], dict) and record["build"]["cancelled"] is True
    assert record["build"]["build_id"] == built["id"]


def test_a_cancel_that_fails_says_so_and_where_to_cancel(
    tmp_path: Path, source: Path, registry: RegistryHandle, cloudbuild: CloudBuildEmulator
) -> None:
    cloudbuild.fail_next(403, 10, when=cancels)
    code, record, _ = interrupted_while_working(tmp_path, source, registry, cloudbuild)
    assert code == 130 and record["status"] == "aborted"
    build_phase = next(phase for phase in record["phases"] if phase["name"] == "build")  # type: ignore[attr-defined]
    assert "cancelling Cloud Build" in build_phase["error"]["message"] and "failed: " in build_phase["error"]["message"]
    assert build_phase["error"]["hint"] == "cancel it in the Cloud Console"
    assert isinstance(record["build"], dict) and record["build"]["cancelled"] is False


# --- the phase on its own ------------------------------------------------------------------------


def test_a_compiler_error_is_the_quoted_cause_and_the_hint_names_the_saved_log(
    tmp_path: Path, source: Path, registry: RegistryHandle, cloudbuild: CloudBuildEmulator
) -> None:
    tsc = "src/room.ts(8,3): error TS2322: Type 'string' is not assignable to type 'number'."  # fixtures/build_logs
    dockerfile = source / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text() + f'RUN echo "{tsc}" && echo "npm notice: see npm fund" && exit 2\n')
    ctx = make_ctx(tmp_path, source, image_for(registry, tmp_path), cloudbuild)
    result = build(ctx)
    assert result.status == "failed" and result.error is not None
    first = result.error.message.split("\n")[0]
    assert first.startswith('Cloud Build step "build" (#0) failed: Step 9/9 : RUN echo') and first.endswith(tsc)
    assert "the whole log is 0001.build.log beside the record" in result.error.hint


def test_a_failing_run_step_names_the_step_and_quotes_its_last_lines(
    tmp_path: Path, source: Path, registry: RegistryHandle, cloudbuild: CloudBuildEmulator
) -> None:
    dockerfile = source / "Dockerfile"
    failing = "RUN printf '\\033[31mno module named frobnicate\\033[0m\\n' && exit 3"
    dockerfile.write_text(dockerfile.read_text() + failing + "\n")
    ctx = make_ctx(tmp_path, source, image_for(registry, tmp_path), cloudbuild)
    result = build(ctx)
    assert result.status == "failed" and result.error is not None
    first, *quoted = result.error.message.split("\n")
    assert first.startswith('Cloud Build step "build" (#0) failed: Step 9/9 : RUN printf')
    assert "returned a non-zero code: 3" in first
    assert quoted[0] == "no module named frobnicate" and "non-zero code: 3" in quoted[-1]
    assert result.error.kind == "build" and "RUN command failed" in result.error.hint
    log = ctx.store.artifact_path(1, "build.log").read_text()
    assert "no module named frobnicate" in log and ESC not in log
    assert not any(ESC in message for message in logged(ctx))
    assert result.section is not None and result.section.build_id == only_build(cloudbuild)["id"]


def test_503_and_429_bursts_during_submission_and_polling_are_retried(
    tmp_path: Path, source: Path, registry: RegistryHandle, cloudbuild: CloudBuildEmulator
) -> None:
    cloudbuild.fail_next(503, 2, when=submissions)
    cloudbuild.fail_next(429, 3, when=polls)
    ctx = make_ctx(tmp_path, source, image_for(registry, tmp_path), cloudbuild)
    result = build(ctx)
    assert result.status == "ok" and result.section is not None
    assert result.section.retries == 5
    assert len(cloudbuild.builds) == 1  # a refused submission created nothing
    messages = logged(ctx)
    assert any(message.startswith("submit build: 503") for message in messages)
    assert any(message.startswith("get build: 429") for message in messages)


def test_500_and_504_while_polling_are_retried_as_googles_get_build_policy_does(
    tmp_path: Path, source: Path, registry: RegistryHandle, cloudbuild: CloudBuildEmulator
) -> None:
    cloudbuild.fail_next(500, 2, when=polls)
    cloudbuild.fail_next(504, 1, when=polls)
    ctx = make_ctx(tmp_path, source, image_for(registry, tmp_path), cloudbuild)
    result = build(ctx)
    assert result.status == "ok" and result.section is not None and result.section.retries == 3
    assert cloudbuild.count(cancels) == 0 and only_build(cloudbuild)["status"] == "SUCCESS"
    assert any(message.startswith("get build: 504") for message in logged(ctx))


def test_a_build_loopctl_gives_up_on_is_cancelled(
    tmp_path: Path, source: Path, registry: RegistryHandle, cloudbuild: CloudBuildEmulator
) -> None:
    cloudbuild.hold_work.set()
    cloudbuild.fail_next(500, 50, when=polls)
    ctx = make_ctx(tmp_path, source, image_for(registry, tmp_path), cloudbuild)
    result = build(ctx)
    assert result.status == "failed" and result.error is not None
    built = only_build(cloudbuild)
    assert cloudbuild.count(cancels) == 1 and built["status"] == "CANCELLED"
    assert result.error.message.startswith("Cloud Build: get build: 500")
    assert result.error.message.endswith(f"gave up on Cloud Build {built['id']}: cancelled")
    assert result.section is not None and result.section.cancelled is True


def test_a_build_left_queued_past_the_timeout_expires_with_cloud_builds_words(
    tmp_path: Path, source: Path, registry: RegistryHandle, cloudbuild: CloudBuildEmulator
) -> None:
    cloudbuild.hold_queue = True
    ctx = make_ctx(tmp_path, source, image_for(registry, tmp_path), cloudbuild, timeout=1)
    result = build(ctx)
    assert result.status == "failed" and result.error is not None
    assert result.error.kind == "build_timeout"
    detail = only_build(cloudbuild)["statusDetail"]
    assert only_build(cloudbuild)["status"] == "EXPIRED" and str(detail) in result.error.message
    assert result.section is not None and result.section.working_s is None and result.section.queued_s >= 1


def test_a_build_past_its_timeout_is_timeout_with_cloud_builds_message(
    tmp_path: Path, source: Path, registry: RegistryHandle, cloudbuild: CloudBuildEmulator
) -> None:
    cloudbuild.hold_work.set()
    ctx = make_ctx(tmp_path, source, image_for(registry, tmp_path), cloudbuild, timeout=1)
    result = build(ctx)
    assert result.status == "failed" and result.error is not None
    built = only_build(cloudbuild)
    assert built["status"] == "TIMEOUT" and result.error.kind == "build_timeout"
    assert result.error.message.endswith(f"timed out: {built['statusDetail']}")


def test_a_digest_the_registry_does_not_hold_is_a_mismatch(
    tmp_path: Path, source: Path, registry: RegistryHandle, cloudbuild: CloudBuildEmulator
) -> None:
    cloudbuild.report_digest = "sha256:" + "0" * 64
    ctx = make_ctx(tmp_path, source, image_for(registry, tmp_path), cloudbuild)
    assert build(ctx).status == "ok"
    with pytest.raises(LoopctlError) as raised:
        CloudBuildPushPhase().run(ctx)
    assert raised.value.kind == "digest_mismatch"
    held = registry.manifest_digest(image_for(registry, tmp_path).split("/", 1)[1], "loopctl-0001")
    assert f"reported sha256:{'0' * 64}" in raised.value.message and f"holds {held}" in raised.value.message


def test_a_denied_push_names_cloud_builds_account_and_the_role_it_lacks(
    tmp_path: Path, source: Path, cloudbuild: CloudBuildEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    with start_registry(tmp_path / "locked", htpasswd={"reader": "reader-pass-7"}) as locked:
        login = base64.b64encode(b"reader:reader-pass-7").decode()
        (tmp_path / "docker").mkdir()
        (tmp_path / "docker" / "config.json").write_text(json.dumps({"auths": {locked.address: {"auth": login}}}))
        monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))  # loopctl may read; Cloud Build may not push
        ctx = make_ctx(tmp_path, source, image_for(locked, tmp_path), cloudbuild, auth="docker-config")
        result = build(ctx)
    assert result.status == "failed" and result.error is not None
    assert result.error.kind == "push_denied"
    assert "as 123456789012@cloudbuild.gserviceaccount.com:" in result.error.message
    assert "roles/artifactregistry.writer" in result.error.hint
    assert result.section is not None
    log = ctx.store.artifact_path(1, "build.log").read_text()
    written = result.section.model_dump_json() + result.error.message + log
    assert "reader-pass-7" not in written and login not in written


def test_a_source_the_builds_account_may_not_read_names_that_account_and_permission(
    tmp_path: Path, source: Path, registry: RegistryHandle, cloudbuild: CloudBuildEmulator
) -> None:
    cloudbuild.default_account = "123456789012-compute@developer.gserviceaccount.com"  # a project made since 2024
    cloudbuild.deny_source_fetch = True
    result = build(make_ctx(tmp_path, source, image_for(registry, tmp_path), cloudbuild))
    assert result.status == "failed" and result.error is not None
    assert result.error.kind == "source_denied"
    assert "storage.objects.get" in result.error.message
    hint = result.error.hint
    assert "123456789012-compute@developer.gserviceaccount.com" in hint and "storage.objects.get" in hint
    assert "gs://proj_cloudbuild" in hint and "roles/storage.objectViewer" in hint


def test_a_log_that_cannot_be_read_does_not_stop_the_wait(
    tmp_path: Path, source: Path, registry: RegistryHandle, cloudbuild: CloudBuildEmulator
) -> None:
    cloudbuild.storage.fail_next(403, when=lambda method, path: path.startswith("/download/"))
    ctx = make_ctx(tmp_path, source, image_for(registry, tmp_path), cloudbuild)
    result = build(ctx)
    assert result.status == "ok" and result.section is not None and result.section.digest.startswith("sha256:")
    assert any(message.startswith("the build log cannot be read") for message in logged(ctx))


def test_a_rebuild_of_the_same_inputs_reuses_the_uploaded_source(
    tmp_path: Path, source: Path, registry: RegistryHandle, cloudbuild: CloudBuildEmulator
) -> None:
    image = image_for(registry, tmp_path)
    assert build(make_ctx(tmp_path, source, image, cloudbuild)).status == "ok"
    again = make_ctx(tmp_path, source, image, cloudbuild, number=2)
    again.options = RunOptions(no_cache=True)  # skip the registry's answer: build the same inputs again
    assert build(again).status == "ok"
    assert cloudbuild.storage.uploads() == 1 and len(cloudbuild.builds) == 2
    assert "proj_cloudbuild" in cloudbuild.storage.buckets  # created on first use, as gcloud does
    (name,) = [key for key in cloudbuild.storage.buckets["proj_cloudbuild"] if key.startswith("loopctl-source/")]
    held = str(cloudbuild.storage.generation("proj_cloudbuild", name))
    # Both builds name the generation loopctl uploaded, then verified: a later replacement is never built.
    assert [build["source"]["storageSource"]["generation"] for build in cloudbuild.builds.values()] == [held, held]
    assert any(
        message.startswith("source unchanged: gs://proj_cloudbuild/loopctl-source/") for message in logged(again)
    )


def test_records_inside_the_context_stay_out_of_the_uploaded_source(
    tmp_path: Path, source: Path, registry: RegistryHandle, cloudbuild: CloudBuildEmulator
) -> None:
    import io
    import tarfile

    config = make_ctx(tmp_path, source, image_for(registry, tmp_path), cloudbuild).config
    inside = source / "iterations"  # a user's repo: the records sit in the build context
    ctx = Context(config.model_copy(update={"iterations_dir": str(inside)}), Store(inside), 1, Recorder())
    inside.mkdir()
    (source / "iterations" / "0001.json").write_text("{}")
    assert build(ctx).status == "ok"
    (name, stored), *_ = cloudbuild.storage.buckets["proj_cloudbuild"].items()
    with tarfile.open(fileobj=io.BytesIO(stored.data), mode="r:gz") as archive:
        members = archive.getnames()
    assert "Dockerfile" in members
    assert not [member for member in members if member.startswith("iterations")], name


def test_a_token_cut_by_the_progress_or_quote_bound_leaves_no_fragment(
    tmp_path: Path, source: Path, registry: RegistryHandle, cloudbuild: CloudBuildEmulator
) -> None:
    from loopctl.secrets import remember

    token = "cbcut-Hq47-ZxWv-Pq93-abcdefghijklmnopqrs"
    remember(token)
    (source / "token").write_text(token + "\n")
    # Cloud Build prefixes each line `Step #0 - "build": `: the 160-character progress line and the
    # 200-character quote both end inside the token.
    failing = (
        "COPY token /token\nRUN printf 'a%.0s' $(seq 120); cat /token; printf 'b%.0s' $(seq 180); cat /token; exit 3"
    )
    (source / "Dockerfile").write_text((source / "Dockerfile").read_text() + failing + "\n")
    ctx = make_ctx(tmp_path, source, image_for(registry, tmp_path), cloudbuild)
    result = build(ctx)
    assert result.status == "failed" and result.error is not None
    shown = "\n".join([*logged(ctx), result.error.message])
    assert "a" * 100 in shown and "b" * 150 in shown
    assert not any(token[start : start + 6] in shown for start in range(len(token) - 5)), shown
