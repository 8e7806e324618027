"""The Cloud Build builder's pure parts: config, the source tarball, the submitted step, the log, the report link."""

from __future__ import annotations

import gzip
import io
import os
import socket
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from loopctl.clients.google import is_emulator
from loopctl.config import BuildConfig, CloudBuildConfig, load_config
from loopctl.errors import UsageError
from loopctl.phases.cloudbuild.logs import clean, last_dockerfile_step, meaningful_tail
from loopctl.phases.cloudbuild.registry import split_reference
from loopctl.phases.cloudbuild.request import build_request, docker_build_args
from loopctl.phases.cloudbuild.source import pack_context, source_name
from loopctl.records.record import Record
from loopctl.reports.markdown import render_markdown


def cloudbuild_config(**build: object) -> BuildConfig:
    return BuildConfig.model_validate(
        {"image": "europe-docker.pkg.dev/p/r/app", "builder": "cloudbuild", "cloudbuild": {"project": "p"}, **build}
    )


def test_builder_cloudbuild_without_its_block_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("project: t\nbuild:\n  image: 127.0.0.1:5000/app\n  builder: cloudbuild\n")
    with pytest.raises(UsageError) as raised:
        load_config(path, environ={})
    assert "config.yaml:2: build: " in raised.value.message and "build.cloudbuild block" in raised.value.message


def test_the_bucket_defaults_as_gcloud_names_it_and_machine_types_are_checked() -> None:
    assert CloudBuildConfig(project="my-proj").source_bucket == "my-proj_cloudbuild"
    assert CloudBuildConfig(project="p", bucket="mine").source_bucket == "mine"
    with pytest.raises(ValueError, match="machine_type"):
        CloudBuildConfig.model_validate({"project": "p", "machine_type": "HUGE"})


def test_only_plain_http_endpoints_are_anonymous() -> None:
    assert is_emulator("http://127.0.0.1:8085")
    assert not is_emulator("https://cloudbuild.googleapis.com") and not is_emulator(None)


def tarball(context: Path, build: BuildConfig) -> bytes:
    sink = io.BytesIO()
    packed = pack_context(context, build, sink)
    assert packed.size == len(sink.getvalue())
    return sink.getvalue()


def test_the_tarball_honours_dockerignore_and_is_the_same_for_the_same_inputs(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / ".dockerignore").write_text("secrets.txt\nbuild/\n")
    (tmp_path / "app.py").write_text("print('hi')\n")
    (tmp_path / "secrets.txt").write_text("hunter2\n")
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "out.bin").write_bytes(b"x")
    build = cloudbuild_config()
    first = tarball(tmp_path, build)
    (tmp_path / "app.py").touch()  # a new mtime, the same content
    assert tarball(tmp_path, build) == first
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(first))) as archive:
        names = set(archive.getnames())
        assert {"Dockerfile", "app.py", ".dockerignore"} <= names
        assert "secrets.txt" not in names and not any(name.startswith("build") for name in names)
        assert {member.uid for member in archive.getmembers()} == {0}
    assert source_name("sha256:abc") == "loopctl-source/abc.tar.gz"


def test_the_tarball_leaves_out_loopctls_own_folder_whatever_dockerignore_says(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / ".dockerignore").write_text("*.md\n!iterations/*.md\n")
    (tmp_path / "app.py").write_text("print('hi')\n")
    (tmp_path / "iterations" / "logs").mkdir(parents=True)
    for name in ("0001.json", "0001.md", "logs/0001.build.log"):
        (tmp_path / "iterations" / name).write_text("{}\n")
    sink = io.BytesIO()
    pack_context(tmp_path, cloudbuild_config(), sink, own=["iterations"])
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(sink.getvalue()))) as archive:
        assert sorted(archive.getnames()) == [".dockerignore", "Dockerfile", "app.py"]


def test_the_build_step_has_the_local_builds_arguments_and_images_are_every_tag() -> None:
    build = cloudbuild_config(args={"B": "2", "A": "1"}, target="runtime", dockerfile="ops/Dockerfile")
    references = ["r/app:in-1", "r/app:loopctl-0003"]
    assert docker_build_args(build, references, "r/app@sha256:9") == [
        "build", "--tag", "r/app:in-1", "--tag", "r/app:loopctl-0003", "--file", "ops/Dockerfile",
        "--platform", "linux/amd64", "--build-arg", "A=1", "--build-arg", "B=2", "--target", "runtime",
        "--cache-from", "r/app@sha256:9", ".",
    ]  # fmt: skip
    request = build_request(build, bucket="b", source="s.tar.gz", references=references, cache_from=None)
    assert [step.id for step in request.steps] == ["build"] and list(request.images) == references
    assert request.logs_bucket == "gs://b/logs" and request.source.storage_source.object_ == "s.tar.gz"
    assert request.timeout.total_seconds() == request.queue_ttl.total_seconds() == 600


def test_machine_pool_and_account_reach_the_request() -> None:
    build = cloudbuild_config(
        cloudbuild={"project": "p", "region": "europe-west1", "machine_type": "E2_HIGHCPU_8", "disk_size_gb": 200,
                    "worker_pool": "pool", "service_account": "builder@p.iam.gserviceaccount.com"}
    )  # fmt: skip
    request = build_request(build, bucket="b", source="s", references=["r:t"], cache_from=None)
    assert request.options.machine_type.name == "E2_HIGHCPU_8" and request.options.disk_size_gb == 200
    assert request.options.pool.name == "projects/p/locations/europe-west1/workerPools/pool"
    assert request.service_account == "projects/p/serviceAccounts/builder@p.iam.gserviceaccount.com"


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("\x1b[31mred\x1b[0m text", "red text"),
        ("\x1b]0;title\x07after", "after"),
        ("10%\r50%\r100%\r", "100%"),
        ("bell\x07 and nul\x00", "bell and nul"),
    ],
)
def test_log_lines_lose_escape_sequences(raw: str, shown: str) -> None:
    assert clean(raw) == shown


def test_the_quoted_lines_are_what_the_failing_instruction_printed() -> None:
    lines = [
        "Step 1/3 : FROM base",
        " ---> 1234",
        "Step 2/3 : RUN make",
        " ---> Running in abcd",
        "compiling",
        "",
        "error: missing header",
        "The command '/bin/sh -c make' returned a non-zero code: 2",
    ]
    assert last_dockerfile_step(lines) == "Step 2/3 : RUN make"
    assert meaningful_tail(lines) == [
        "compiling",
        "error: missing header",
        "The command '/bin/sh -c make' returned a non-zero code: 2",
    ]


def test_references_split_into_host_repository_and_tag() -> None:
    assert split_reference("127.0.0.1:5000/a/b:in-1") == ("127.0.0.1:5000", "a/b", "in-1")
    assert split_reference("europe-docker.pkg.dev/p/r/app:t") == ("europe-docker.pkg.dev", "p/r/app", "t")
    assert split_reference("nginx") == ("registry-1.docker.io", "library/nginx", "latest")


def test_the_report_links_the_build_in_the_console_with_every_part_encoded() -> None:
    build = {"builder": "cloudbuild", "build_id": "id)](javascript:x", "project": "p", "region": "us-central1"}
    record = Record.model_validate(
        {"number": 1, "started_at": "2026-01-01T00:00:00Z", "finished_at": "2026-01-01T00:01:00Z",
         "status": "failed", "build": build}
    )  # fmt: skip
    report = render_markdown(record, None)
    line = next(line for line in report.splitlines() if line.startswith("- **Cloud Build**"))
    assert "(https://console.cloud.google.com/cloud-build/builds;region=us-central1/id%29%5D%28javascript%3Ax" in line
    assert "?project=p)" in line


def test_the_ci_example_without_docker_builds_on_cloud_build() -> None:
    import yaml

    examples = Path(__file__).resolve().parents[1] / "examples" / "ci"
    workflow = yaml.safe_load((examples / "github-actions-cloudbuild.yml").read_text())
    job = workflow["jobs"]["iterate"]
    assert job["container"].startswith("python:") and "services" not in job  # no Docker daemon anywhere
    runs = [str(step.get("run", "")) for step in job["steps"]]
    assert any(run.startswith("loopctl iterate --config config.cloudbuild.yaml --ci") for run in runs)
    config = load_config(examples / "config.cloudbuild.yaml", environ={"DEMO_JWT_SECRET": "x"})
    assert config.build is not None and config.build.builder == "cloudbuild"
    assert config.build.cloudbuild is not None and config.build.cloudbuild.source_bucket == "my-proj_cloudbuild"


def test_cloud_builds_words_become_one_clean_line() -> None:
    from loopctl.phases.cloudbuild.failure import one_line

    assert one_line("step failed:\n\x1b[31mexit 1\x1b[0m\r\n  more\x00") == "step failed: exit 1 more"
    assert len(one_line("x" * 1000)) == 300


def test_the_tarball_keeps_hard_links_and_leaves_out_sockets_and_fifos(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "data.txt").write_text("shared\n")
    os.link(tmp_path / "data.txt", tmp_path / "same.txt")
    os.mkfifo(tmp_path / "pipe")
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(tmp_path / "app.sock"))
        sink = io.BytesIO()
        packed = pack_context(tmp_path, cloudbuild_config(), sink)
    assert sorted(packed.left_out) == ["app.sock", "pipe"]
    target = tmp_path / "unpacked"
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(sink.getvalue()))) as archive:
        assert sorted(archive.getnames()) == ["Dockerfile", "data.txt", "same.txt"]
        assert archive.getmember("same.txt").islnk() and archive.getmember("same.txt").linkname == "data.txt"
        archive.extractall(target, filter="data")
    assert (target / "same.txt").read_text() == (target / "data.txt").read_text() == "shared\n"


def test_the_tarball_streams_a_big_file_without_holding_it(tmp_path: Path) -> None:
    """Packed in a child process whose peak memory is read back: a 512 MiB file must not be held in memory."""
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    with (tmp_path / "model.bin").open("wb") as sparse:
        sparse.truncate(512 * 1024**2)
    script = (
        "import sys, tempfile\n"
        "from pathlib import Path\n"
        "from loopctl.config import BuildConfig\n"
        "from loopctl.phases.cloudbuild.source import pack_context\n"
        "build = BuildConfig.model_validate({'image': 'e.pkg.dev/p/r/a', 'builder': 'cloudbuild', "
        "'cloudbuild': {'project': 'p'}})\n"
        "with tempfile.TemporaryFile() as spool:\n"
        "    packed = pack_context(Path(sys.argv[1]), build, spool)\n"
        # VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, so a child forked from a big pytest would
        # report the parent's size; VmHWM belongs to the child's own address space.
        "peak = next(line for line in Path('/proc/self/status').read_text().splitlines() if line.startswith('VmHWM'))\n"
        "print(packed.size, peak.split()[1])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, check=True, timeout=250
    )
    size, peak_kib = map(int, done.stdout.split())
    assert 0 < size < 8 * 1024**2  # zeros compress
    assert peak_kib < 200 * 1024, done.stdout  # far below the file's 512 MiB
