"""`loopctl init --target …` in a user's repo: the Dockerfile's port, a valid config, records kept out."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from loopctl.config import load_config
from loopctl.init_template import detect_service, exposed_port, project_name, write_ignores


def init(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "loopctl", "init", *args], capture_output=True, text=True, cwd=folder, check=False
    )


@pytest.mark.parametrize(
    ("dockerfile", "port"),
    [
        ("FROM python:3.12-slim\nEXPOSE 8000\nCMD x\n", 8000),
        ("FROM x\nexpose 9000/tcp 9001\n", 9000),
        ("FROM x\nEXPOSE $PORT\nEXPOSE 7000\n", 7000),
        ("FROM x\nCMD x\n", None),
    ],
)
def test_the_exposed_port_is_read_from_the_dockerfile(dockerfile: str, port: int | None) -> None:
    assert exposed_port(dockerfile) == port


def test_init_in_a_repo_with_a_dockerfile_writes_a_docker_loop_on_its_port(tmp_path: Path) -> None:
    repo = tmp_path / "My_Service"
    repo.mkdir()
    (repo / "Dockerfile").write_text("FROM python:3.12-slim\nEXPOSE 8000\n")
    (repo / ".dockerignore").write_text(".git")  # no final newline: the entry still lands on its own line
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    done = init(repo, "--target", "docker")
    assert done.returncode == 0, done.stderr
    config = load_config(repo / "config.yaml")
    assert config.build is not None and config.build.context == "." and config.build.image == "my-service"
    assert config.deploy is not None and config.deploy.docker is not None and config.deploy.docker.port == 8000
    assert config.push is None
    assert (repo / ".dockerignore").read_text().splitlines()[0] == ".git"
    assert "iterations/" in (repo / ".dockerignore").read_text().splitlines()
    assert "iterations/" in (repo / ".gitignore").read_text().splitlines()
    assert "added iterations/ to .dockerignore" in done.stderr


def test_init_without_a_target_picks_docker_only_when_there_is_a_dockerfile(tmp_path: Path) -> None:
    assert init(tmp_path).returncode == 0
    assert load_config(tmp_path / "config.yaml").deploy.target == "url"  # type: ignore[union-attr]
    assert not (tmp_path / ".dockerignore").exists() and not (tmp_path / ".gitignore").exists()
    refused = init(tmp_path, "--target", "cloudrun", "--force")
    assert refused.returncode == 2
    assert "no Dockerfile" in refused.stderr and "Traceback" not in refused.stderr


def test_ignore_entries_are_added_once(tmp_path: Path) -> None:
    (tmp_path / ".gitignore").write_text("/iterations\n")
    assert write_ignores(tmp_path, "docker") == (".dockerignore",)
    assert write_ignores(tmp_path, "docker") == ()
    assert (tmp_path / ".dockerignore").read_text().count("iterations/") == 1
    assert ".git" in (tmp_path / ".dockerignore").read_text().splitlines()


@pytest.mark.parametrize(
    ("folder", "name"),
    [("My_Service", "my-service"), ("2024 chat!", "svc-2024-chat"), ("---", "svc"), ("a" * 80, "a" * 49)],
)
def test_the_project_name_is_a_valid_image_container_and_service_name(folder: str, name: str) -> None:
    assert project_name(folder) == name


def test_a_path_that_cannot_be_written_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder\n")
    done = init(tmp_path, "a-file/config.yaml")
    assert done.returncode == 2
    assert "cannot write a-file/config.yaml" in done.stderr and "Traceback" not in done.stderr


def test_an_ignore_file_that_is_not_utf8_keeps_its_bytes(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM x\n")
    (tmp_path / ".dockerignore").write_bytes(b"caf\xe9/\n")  # Latin-1, as an old editor saved it
    assert write_ignores(tmp_path, "docker") == (".dockerignore",)
    kept = (tmp_path / ".dockerignore").read_bytes()
    assert kept.startswith(b"caf\xe9/\n") and b"iterations/\n" in kept


def test_init_warns_when_git_or_the_image_build_ignores_the_config(tmp_path: Path) -> None:
    repo = tmp_path / "svc"
    repo.mkdir()
    (repo / "Dockerfile").write_text("FROM python:3.12-slim\n")
    (repo / ".gitignore").write_text("node_modules/\n*.yaml\n")
    (repo / ".dockerignore").write_text("*.yaml\n")
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    done = init(repo, "--target", "docker")
    assert done.returncode == 0, done.stderr
    assert "warning: config.yaml is git-ignored (.gitignore:2:*.yaml): it will not be committed" in done.stderr
    assert "add `!config.yaml` to .gitignore" in done.stderr
    assert "warning: config.yaml is docker-ignored (.dockerignore)" in done.stderr

    quiet = tmp_path / "quiet"
    quiet.mkdir()
    (quiet / "Dockerfile").write_text("FROM python:3.12-slim\n")
    subprocess.run(["git", "init", "-q", str(quiet)], check=True)
    calm = init(quiet, "--target", "docker")
    assert calm.returncode == 0 and "warning" not in calm.stderr


@pytest.mark.parametrize("name", [".gitignore", ".dockerignore"])
def test_a_symlinked_ignore_file_is_refused_and_its_target_left_alone(tmp_path: Path, name: str) -> None:
    repo = tmp_path / "service"
    repo.mkdir()
    (repo / "Dockerfile").write_text("FROM x\nEXPOSE 8000\n")
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    target = tmp_path / "elsewhere"
    target.write_text("keep me\n")
    (repo / name).symlink_to(target)

    done = init(repo, "--target", "docker")

    assert done.returncode == 2, done.stderr
    assert f"{name} is a symbolic link" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) <= 2
    assert target.read_text() == "keep me\n"
    assert not (repo / "config.yaml").exists()  # refused before anything was written


def test_a_fifo_ignore_file_is_refused_not_waited_on(tmp_path: Path) -> None:
    repo = tmp_path / "service"
    repo.mkdir()
    (repo / "Dockerfile").write_text("FROM x\n")
    os.mkfifo(repo / ".dockerignore")
    command = [sys.executable, "-m", "loopctl", "init", "--target", "docker"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=repo, timeout=60, check=False)
    assert done.returncode == 2 and ".dockerignore is not a regular file" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and not (repo / "config.yaml").exists()


@pytest.mark.timeout(60)
def test_the_exposed_port_of_a_huge_blank_dockerfile_is_read_in_linear_time() -> None:
    assert exposed_port("FROM x\n" + " \n" * 400_000 + "  expose\t9000\n") == 9000
    assert exposed_port("FROM x\n" + "\t" * 400_000 + "RUN echo EXPOSE 1\n") is None  # not the instruction


def test_a_huge_dockerfile_is_read_only_so_far(tmp_path: Path) -> None:
    with (tmp_path / "Dockerfile").open("wb") as sparse:
        sparse.write(b"FROM x\nEXPOSE 7000\n")
        sparse.truncate(4 * 1024**3)
    assert detect_service(tmp_path).port == 7000


def test_the_commented_steps_example_is_a_valid_conversation_once_uncommented(tmp_path: Path) -> None:
    assert init(tmp_path, "--target", "url").returncode == 0
    lines = (tmp_path / "config.yaml").read_text().splitlines()
    start = lines.index("    # - name: chat")
    block = [line.replace("    # ", "    ", 1) for line in lines[start:] if line.startswith("    # ")]
    end = len(lines) if "" not in lines[start:] else lines.index("", start)
    uncommented = [*lines[:start], *block, *lines[end:]]
    (tmp_path / "config.yaml").write_text("\n".join(uncommented) + "\n")
    check = load_config(tmp_path / "config.yaml", environ={"CHAT_TOKEN": "x"}).probe.checks[-1]
    assert check.name == "chat" and check.websocket is not None and check.websocket.steps is not None
    assert [step.capture for step in check.websocket.steps][1] == {"session": "session_id"}
    assert check.websocket.auth is not None and check.websocket.auth.type == "message"


@pytest.mark.parametrize("name", ["compose.yaml", "docker-compose.yml"])
def test_init_beside_a_compose_file_offers_the_compose_target_for_the_service_it_builds(
    tmp_path: Path, name: str
) -> None:
    (tmp_path / "api").mkdir()
    (tmp_path / "api" / "Dockerfile").write_text("FROM python:3.12-slim\nEXPOSE 8000\n")
    (tmp_path / name).write_text(
        "services:\n  store:\n    image: redis:7\n  api:\n    build: {context: api}\n    ports: ['127.0.0.1::8000']\n"
    )
    done = init(tmp_path)
    assert done.returncode == 0, done.stderr
    assert "wrote" in done.stderr and "for target compose" in done.stderr
    config = load_config(tmp_path / "config.yaml")
    assert config.deploy is not None and config.deploy.target == "compose" and config.deploy.compose is not None
    assert (config.deploy.compose.file, config.deploy.compose.service, config.deploy.compose.port) == (
        name,
        "api",
        8000,
    )
    assert config.build is not None and (config.build.context, config.build.dockerfile) == ("api", "Dockerfile")
    text = (tmp_path / "config.yaml").read_text()
    assert f"# Found {name} (service api): `--target compose` runs it." in text


def test_init_compose_without_a_compose_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    done = init(tmp_path, "--target", "compose")
    assert done.returncode == 2 and "no Compose file in" in done.stderr and "Traceback" not in done.stderr
    assert init(tmp_path).returncode == 0  # a Dockerfile alone still means docker
    assert load_config(tmp_path / "config.yaml").deploy.target == "docker"  # type: ignore[union-attr]


@pytest.mark.parametrize("text", ["services: [" * 100_000, "services:\n  api: {build: .\n", "- just a list\n"])
def test_a_compose_file_init_cannot_read_is_left_to_compose_and_init_still_writes_one_line(
    tmp_path: Path, text: str
) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "compose.yaml").write_text(text)
    done = init(tmp_path)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert "for target docker" in done.stderr  # no compose service to offer: the Dockerfile decides
