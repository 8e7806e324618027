"""Build and push against a real Docker Engine and a real registry, with the input-digest skip."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from loopctl.config import BuildConfig, Config, PushConfig
from loopctl.errors import LoopctlError
from loopctl.phases.base import Context, PhaseResult, RunOptions
from loopctl.phases.docker.build import BuildPhase
from loopctl.phases.docker.push import PushPhase
from loopctl.records.record import Record
from loopctl.records.store import Store
from tests.support.events import Recorder, logged
from tests.support.realparts import BASE_IMAGE, RegistryHandle, docker_client, start_registry

SERVICE = Path(__file__).resolve().parents[2] / "examples" / "agent-service"
BUILD_LOGS = Path(__file__).resolve().parents[1] / "fixtures" / "build_logs"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryHandle]:
    with start_registry(tmp_path_factory.mktemp("registry")) as handle:
        yield handle


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A private copy of the sample service, so a test may change it."""
    target = tmp_path / "agent-service"
    shutil.copytree(SERVICE, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def make_ctx(tmp_path: Path, source: Path, registry: RegistryHandle, *, number: int = 1, **options: object) -> Context:
    config = Config(
        project="t",
        iterations_dir=str(tmp_path / "iterations"),
        build=BuildConfig(
            context=str(source),
            image=f"{registry.address}/agent-{_slug(tmp_path.name)}",
            args={"BASE_IMAGE": BASE_IMAGE},
        ),
        push=PushConfig(auth="none"),
    )
    return Context(config, Store(tmp_path / "iterations"), number, Recorder(), RunOptions(**options))


def build_and_push(ctx: Context) -> tuple[PhaseResult, PhaseResult]:
    """Both phases, and the record the runner would save: what a later iteration trusts a registry image by."""
    built = BuildPhase().run(ctx)
    assert built.section is not None
    ctx.sections.fill(built.section)
    pushed = PushPhase(backoff_s=0.1).run(ctx)
    assert pushed.section is not None
    ctx.sections.fill(pushed.section)
    moment = "2026-01-01T00:00:00.000Z"
    record = Record(number=ctx.number, started_at=moment, finished_at=moment, status="success", **vars(ctx.sections))
    ctx.store.save(record, None)
    return built, pushed


def _slug(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())[-16:]


def test_build_then_push_pins_the_digest_the_registry_holds(
    tmp_path: Path, source: Path, registry: RegistryHandle
) -> None:
    ctx = make_ctx(tmp_path, source, registry)
    built, pushed = build_and_push(ctx)
    assert built.section is not None and pushed.section is not None
    assert built.section.cached == "no" and built.section.image_id.startswith("sha256:")
    repo = built.section.image.split("/", 1)[1]
    held = registry.manifest_digest(repo, "loopctl-0001")
    assert pushed.section.digest == held
    assert pushed.section.pinned == f"{built.section.image}@{held}"
    assert "Step 1/" in ctx.store.artifact_path(1, "build.log").read_text()
    # Pushed once under the input tag; every other tag names the same manifest, added without a second push.
    for tag in (built.section.cache_tag.rsplit(":", 1)[1], *built.section.tags):
        assert registry.manifest_digest(repo, tag) == held, tag
    assert sum(message.endswith(": tagged in the registry") for message in logged(ctx)) == len(built.section.tags)
    assert sum(message.startswith("The push refers to repository") for message in logged(ctx)) == 1


def test_an_unchanged_tree_skips_build_and_push(tmp_path: Path, source: Path, registry: RegistryHandle) -> None:
    first = make_ctx(tmp_path, source, registry)
    _, pushed = build_and_push(first)
    second = make_ctx(tmp_path, source, registry, number=2)
    built, again = build_and_push(second)
    assert built.section is not None and again.section is not None and pushed.section is not None
    assert built.section.cached == "remote" and built.section.image_id is None
    assert again.section.uploaded is False
    assert again.section.digest == pushed.section.digest
    assert not second.store.artifact_path(2, "build.log").exists()  # no build ran
    assert not any(message.startswith("Step ") for message in logged(second))


def test_a_local_image_with_the_same_inputs_is_pushed_without_rebuilding(
    tmp_path: Path, source: Path, registry: RegistryHandle
) -> None:
    first = make_ctx(tmp_path, source, registry)
    built_first = BuildPhase().run(first)
    second = make_ctx(tmp_path, source, registry, number=2)
    built, pushed = build_and_push(second)
    assert built.section is not None and built_first.section is not None and pushed.section is not None
    assert built.section.cached == "local"
    assert built.section.image_id == built_first.section.image_id
    assert pushed.section.uploaded is True


def test_changing_one_file_rebuilds(tmp_path: Path, source: Path, registry: RegistryHandle) -> None:
    first = make_ctx(tmp_path, source, registry)
    built_first, _ = build_and_push(first)
    handler = source / "agent_service" / "conversation.py"
    handler.write_text(handler.read_text() + "\n# changed\n")
    second = make_ctx(tmp_path, source, registry, number=2)
    built, _ = build_and_push(second)
    assert built.section is not None and built_first.section is not None
    assert built.section.cached == "no"
    assert built.section.input_digest != built_first.section.input_digest
    assert built.section.image_id != built_first.section.image_id


def test_ignored_files_do_not_change_the_input_digest(tmp_path: Path, source: Path, registry: RegistryHandle) -> None:
    from loopctl.phases.inputs import input_digest

    ctx = make_ctx(tmp_path, source, registry)
    before = input_digest(ctx.config)
    (source / "README.md").write_text("edited, but .dockerignore keeps it out of the context\n")
    assert input_digest(ctx.config) == before


def test_a_failing_run_step_names_the_step(tmp_path: Path, source: Path, registry: RegistryHandle) -> None:
    dockerfile = source / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text() + "\nRUN exit 7\n")
    ctx = make_ctx(tmp_path, source, registry)
    with pytest.raises(LoopctlError) as caught:
        BuildPhase().run(ctx)
    assert "RUN exit 7" in caught.value.message and "returned a non-zero code: 7" in caught.value.message
    assert "RUN command failed" in caught.value.hint
    assert "ERROR:" in ctx.store.artifact_path(1, "build.log").read_text()


def test_a_missing_base_image_says_how_to_make_it(tmp_path: Path, source: Path, registry: RegistryHandle) -> None:
    ctx = make_ctx(tmp_path, source, registry)
    assert ctx.config.build is not None
    config = ctx.config.model_copy(
        update={"build": ctx.config.build.model_copy(update={"args": {"BASE_IMAGE": "127.0.0.1:1/none:missing"}})}
    )
    ctx.config = config
    with pytest.raises(LoopctlError) as caught:
        BuildPhase().run(ctx)
    assert caught.value.message.startswith("Step 2/")
    assert "cannot pull the base image 127.0.0.1:1/none:missing (the Dockerfile's FROM)" in caught.value.hint
    assert "set that arg under build.args" in caught.value.hint  # this Dockerfile's FROM is `${BASE_IMAGE}`


def test_a_user_dockerfile_whose_from_cannot_be_pulled_is_named_without_loopctls_own_tools(
    tmp_path: Path, source: Path, registry: RegistryHandle
) -> None:
    (source / "Dockerfile").write_text("FROM 127.0.0.1:1/acme/node:20-slim AS build\nRUN true\n")
    with pytest.raises(LoopctlError) as caught:
        BuildPhase().run(make_ctx(tmp_path, source, registry))
    hint = caught.value.hint
    assert "cannot pull the base image 127.0.0.1:1/acme/node:20-slim" in hint and "docker login" in hint
    assert "base-image.sh" not in hint and "BASE_IMAGE" not in hint and "build arg" not in hint


def test_a_registry_that_wants_credentials_refuses_the_push(tmp_path: Path, source: Path) -> None:
    with start_registry(tmp_path / "locked", htpasswd={"ci": "hunter2-password"}) as locked:
        ctx = make_ctx(tmp_path, source, locked)
        built = BuildPhase().run(ctx)
        assert built.section is not None
        ctx.sections.fill(built.section)
        with pytest.raises(LoopctlError) as caught:
            PushPhase(backoff_s=0.1).run(ctx)
    assert caught.value.kind == "push_denied"
    assert "log in" in caught.value.hint


def test_a_stopped_registry_is_a_clear_push_failure(tmp_path: Path, source: Path) -> None:
    with start_registry(tmp_path / "gone") as gone:
        ctx = make_ctx(tmp_path, source, gone)
        built = BuildPhase().run(ctx)
        assert built.section is not None
        ctx.sections.fill(built.section)
        gone.stop()
        with pytest.raises(LoopctlError) as caught:
            PushPhase(backoff_s=0.1).run(ctx)
    assert caught.value.kind in ("push_unreachable", "push_transient")
    assert "registry" in caught.value.message or "registry" in caught.value.hint


def test_iterate_with_a_stopped_registry_exits_3_with_a_complete_record(tmp_path: Path, source: Path) -> None:
    import json
    import subprocess
    import sys

    with start_registry(tmp_path / "stopped") as stopped:
        address = stopped.address
    (tmp_path / "config.yaml").write_text(
        f"project: t\nbuild: {{context: {source}, image: {address}/agent, args: {{BASE_IMAGE: {BASE_IMAGE}}}}}\n"
        "push: {auth: none}\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "loopctl", "iterate", "--ci", "--config", str(tmp_path / "config.yaml")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 3, done.stderr
    record = json.loads((tmp_path / "iterations" / "0001.json").read_text())
    assert [(phase["name"], phase["status"]) for phase in record["phases"]] == [("build", "ok"), ("push", "failed")]
    assert record["phases"][1]["error"]["kind"] == "push_unreachable"
    assert (tmp_path / "iterations" / "0001.md").exists()
    assert not list((tmp_path / "iterations").glob("*.tmp"))
    assert "Traceback" not in done.stderr


UNCHANGED_IN_A_FRESH_PROCESS = """
import json, sys
from pathlib import Path
from loopctl.config import BuildConfig, Config, PushConfig
from loopctl.phases.docker.build import BuildPhase
from loopctl.phases.docker.push import PushPhase
from loopctl.records.store import Store
from loopctl.phases.base import Context

folder, source, image, base = sys.argv[1:5]
config = Config(
    project="t",
    iterations_dir=folder,
    build=BuildConfig(context=source, image=image, args={"BASE_IMAGE": base}),
    push=PushConfig(auth="none"),
)
ctx = Context(config, Store(Path(folder)), 2, lambda event: None)
built = BuildPhase().run(ctx)
ctx.sections.fill(built.section)
pushed = PushPhase().run(ctx)
heavy = sorted(name for name in ("docker", "requests", "urllib3") if name in sys.modules)
print(json.dumps({"cached": built.section.cached, "uploaded": pushed.section.uploaded, "heavy": heavy}))
"""


def test_an_unchanged_tree_never_loads_the_docker_sdk(tmp_path: Path, source: Path, registry: RegistryHandle) -> None:
    import json
    import subprocess
    import sys

    first = make_ctx(tmp_path, source, registry)
    build_and_push(first)
    assert first.config.build is not None
    argv = [str(tmp_path / "iterations"), str(source), first.config.build.image, BASE_IMAGE]
    done = subprocess.run(
        [sys.executable, "-c", UNCHANGED_IN_A_FRESH_PROCESS, *argv], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"cached": "remote", "uploaded": False, "heavy": []}


# Without a push phase the cache is the engine's own image store: looking it up and tagging stay off the SDK too.
UNCHANGED_LOCALLY_IN_A_FRESH_PROCESS = """
import json, sys
from pathlib import Path
from loopctl.config import BuildConfig, Config
from loopctl.phases.docker.build import BuildPhase
from loopctl.records.store import Store
from loopctl.phases.base import Context

folder, source, image, base = sys.argv[1:5]
config = Config(
    project="t", iterations_dir=folder, build=BuildConfig(context=source, image=image, args={"BASE_IMAGE": base})
)
built = BuildPhase().run(Context(config, Store(Path(folder)), 2, lambda event: None))
heavy = sorted(name for name in ("docker", "requests", "urllib3") if name in sys.modules)
print(json.dumps({"cached": built.section.cached, "tags": built.section.tags, "heavy": heavy}))
"""


def test_an_unchanged_tree_without_a_push_never_loads_the_docker_sdk(
    tmp_path: Path, source: Path, registry: RegistryHandle
) -> None:
    import json
    import subprocess
    import sys

    first = make_ctx(tmp_path, source, registry)
    BuildPhase().run(first)
    assert first.config.build is not None
    image = first.config.build.image
    argv = [str(tmp_path / "iterations"), str(source), image, BASE_IMAGE]
    done = subprocess.run(
        [sys.executable, "-c", UNCHANGED_LOCALLY_IN_A_FRESH_PROCESS, *argv], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert found["cached"] == "local" and found["heavy"] == []
    assert "loopctl-0002" in found["tags"]
    # The tags were added over the socket: the engine holds them on the very image the first build made.
    engine = docker_client()
    built_id = engine.images.get(f"{image}:loopctl-0001").id
    assert all(engine.images.get(f"{image}:{tag}").id == built_id for tag in found["tags"])


def test_tags_are_added_by_manifest_with_basic_credentials_or_left_to_the_engine(tmp_path: Path, source: Path) -> None:
    from loopctl.phases.docker.registry import tag_by_manifest

    with start_registry(tmp_path / "locked", htpasswd={"ci": "hunter2-password"}) as locked:
        ctx = make_ctx(tmp_path, source, locked)
        built = BuildPhase().run(ctx)
        assert built.section is not None
        credentials = {"username": "ci", "password": "hunter2-password"}
        repository = built.section.image
        tag = built.section.cache_tag.rsplit(":", 1)[1]
        docker_client().api.push(repository, tag=tag, auth_config=credentials)
        path = repository.split("/", 1)[1]
        digest = locked.manifest_digest(path, tag)
        assert digest is not None
        assert tag_by_manifest(repository, digest, ["anonymous"], None) == ["anonymous"]  # 401: the engine's job
        assert locked.manifest_digest(path, "anonymous") is None
        assert tag_by_manifest(repository, digest, ["extra", "more"], credentials) == []
        assert locked.manifest_digest(path, "extra") == digest == locked.manifest_digest(path, "more")


def test_a_failing_step_shows_its_last_output_and_the_log_has_no_escape_codes(
    tmp_path: Path, source: Path, registry: RegistryHandle
) -> None:
    dockerfile = source / "Dockerfile"
    dockerfile.write_text(
        dockerfile.read_text()
        # One stream, so the order is the order written (the engine interleaves stdout and stderr freely).
        + "\nRUN exec 2>&1; printf '\\033[1;31mCollecting requests\\033[0m\\n'; "
        + "echo '/usr/bin/python3: No module named pip' >&2; exit 1\n"
    )
    ctx = make_ctx(tmp_path, source, registry)
    with pytest.raises(LoopctlError) as caught:
        BuildPhase().run(ctx)
    first_line, _, rest = caught.value.message.partition("\n")
    assert first_line.endswith("returned a non-zero code: 1 — /usr/bin/python3: No module named pip")
    assert "Collecting requests" in rest and "Running in" not in rest
    assert "| /usr/bin/python3: No module named pip" in logged(ctx)
    log = ctx.store.artifact_path(1, "build.log").read_text()
    assert "Collecting requests" in log and "\x1b" not in log


def test_a_typescript_build_failure_quotes_the_compilers_error_and_names_the_real_log(
    tmp_path: Path, source: Path, registry: RegistryHandle
) -> None:
    # webpack's real output for a TS2322, then lines that are not the cause, as a failing `npm run build` prints.
    shutil.copy(BUILD_LOGS / "webpack.log", source / "webpack.log")
    dockerfile = source / "Dockerfile"
    dockerfile.write_text(
        dockerfile.read_text()
        + "\nCOPY webpack.log /tmp/webpack.log\n"
        + "RUN exec 2>&1; cat /tmp/webpack.log; echo 'npm notice: run `npm fund` for details'; exit 1\n"
    )
    ctx = make_ctx(tmp_path, source, registry, number=3)
    with pytest.raises(LoopctlError) as caught:
        BuildPhase().run(ctx)
    first_line = caught.value.message.partition("\n")[0]
    cause = "TS2322: Type 'string' is not assignable to type 'number'. (/app/src/room.ts(8,3))"
    assert first_line.endswith(f"returned a non-zero code: 1 — {cause}")
    assert "the whole log is 0003.build.log beside the record" in caught.value.hint
    assert ctx.store.artifact_path(3, "build.log").name == "0003.build.log"


def test_records_inside_the_context_never_reach_the_engine(
    tmp_path: Path, source: Path, registry: RegistryHandle
) -> None:
    (source / ".dockerignore").unlink(missing_ok=True)  # nothing but loopctl itself keeps them out
    (source / "Dockerfile").write_text(
        (source / "Dockerfile").read_text()
        + "\nCOPY . /context\nRUN test -d /context/agent_service && test ! -e /context/iterations\n"
    )
    ctx = make_ctx(tmp_path, source, registry)
    ctx.config = ctx.config.model_copy(update={"iterations_dir": str(source / "iterations")})
    (source / "iterations").mkdir()
    (source / "iterations" / "0001.json").write_text("{}\n")
    built = BuildPhase().run(ctx)
    assert built.section is not None and built.section.cached == "no"


def test_a_dockerfile_outside_the_context_still_builds(tmp_path: Path, source: Path, registry: RegistryHandle) -> None:
    outside = source.parent / "Dockerfile.outside"
    outside.write_text((source / "Dockerfile").read_text())
    ctx = make_ctx(tmp_path, source, registry)
    assert ctx.config.build is not None
    build = ctx.config.build.model_copy(update={"dockerfile": "../Dockerfile.outside"})
    ctx.config = ctx.config.model_copy(update={"build": build})
    built = BuildPhase().run(ctx)
    assert built.section is not None and built.section.cached == "no"
    assert built.section.image_id.startswith("sha256:")


@pytest.mark.parametrize(
    ("content", "credentials", "plain"),
    [
        (None, False, True),  # no docker config: nothing for the SDK to read, the socket is the default one
        ('{"auths": {"registry.example:5000": {}}}', True, True),
        ('{"credsStore": "pass"}', True, True),
        ('{"currentContext": "remote"}', False, False),  # a context may point anywhere: only the SDK knows where
        ('{"currentContext": "default"}', False, True),
        ("not json", True, True),  # unreadable: the SDK decides what it means
        ('["a list"]', True, True),
    ],
)
def test_the_docker_cli_config_decides_between_the_socket_and_the_sdk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str | None, credentials: bool, plain: bool
) -> None:
    from loopctl.clients.docker_engine import EngineUnavailable, docker_config_has_credentials, engine_get

    if content is not None:
        (tmp_path / "config.json").write_text(content)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    assert docker_config_has_credentials() is credentials
    if plain:
        status, version = engine_get("/version")  # the machine's engine, on its default socket
        assert status == 200 and version["ApiVersion"]
    else:
        with pytest.raises(EngineUnavailable):
            engine_get("/version")
