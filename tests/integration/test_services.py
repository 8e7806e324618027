"""Two services on the real engine: an api that reads a value from a companion store over the project network.

The store and the api are built from the local base image (tests/fixtures/services), pushed to the real registry
(the api) and run as containers on the network `loopctl-PROJECT`; loopctl runs as a user does (a subprocess).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.harness import EXIT_DEPLOY, EXIT_INCONCLUSIVE, iterate, run_loopctl
from tests.support import realparts

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "services"
CONFIG = """\
project: {project}
services:
  store:
    build: {{context: store, image: 127.0.0.1:5000/{project}-store, args: {{BASE_IMAGE: {base}}}}}
    deploy: {{target: docker, docker: {{port: 6379}}}}
  api:
    depends_on: [store]
    build: {{context: api, image: 127.0.0.1:5000/{project}-api, args: {{BASE_IMAGE: {base}}}}}
    push: {{auth: none}}
    deploy:
      target: docker
      docker: {{port: 8080, env: {{STORE_ADDR: "{{services.store.host}}:6379"}}}}
    probe:
      checks:
        - name: chat
          websocket: {{path: /, send: {{text: hi}}, expect_events: [agent_started, agent_completed], timeout: 10}}
"""


@pytest.fixture(scope="module")
def engine() -> Iterator[Any]:
    yield from realparts.engine_with_base_image()


@pytest.fixture(scope="module")
def project(engine: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The two-service project in a folder of its own; its containers and network are removed at the end."""
    for name in realparts.labelled_project(engine, "loopctl-test-services"):
        folder = tmp_path_factory.mktemp("services")
        shutil.copytree(FIXTURE, folder, dirs_exist_ok=True)
        (folder / "config.yaml").write_text(CONFIG.format(project=name, base=realparts.BASE_IMAGE))
        yield folder
        for network in engine.networks.list(names=[f"loopctl-{name}"]):
            with contextlib.suppress(Exception):
                network.remove()


def run(folder: Path, *args: str) -> tuple[int, dict[str, Any], str]:
    done = iterate(folder, "--ci", "--json", *args, timeout=300)
    assert done.stdout, done.stderr
    record = json.loads(done.stdout)["data"]
    report = (folder / "iterations" / f"{record['number']:04d}.md").read_text()
    return done.returncode, record, report


def test_the_store_deploys_first_and_the_api_reaches_it_by_name_on_the_project_network(
    project: Path, engine: Any
) -> None:
    code, record, _ = run(project)
    assert (code, record["status"], record["schema"]) == (0, "success", 3), record
    deploys = [phase["service"] for phase in record["phases"] if phase["name"] == "deploy"]
    assert deploys == ["store", "api"]
    assert record["services"]["api"]["depends_on"] == ["store"]
    assert record["services"]["api"]["push"]["pinned"].startswith("127.0.0.1:5000/")
    assert [check["service"] for check in record["checks"]] == ["api"]
    network = engine.networks.get(f"loopctl-{record['project']}")
    on_it = {container["Name"] for container in network.attrs["Containers"].values()}
    assert on_it == {f"{record['project']}-store", f"{record['project']}-api"}


def test_a_store_refusal_is_in_the_apis_failing_check_with_both_logs_and_only_the_store_was_rebuilt(
    project: Path,
) -> None:
    (project / "store" / "mode").write_text("broken\n")
    try:
        code, record, report = run(project)
    finally:
        (project / "store" / "mode").write_text("ok\n")
    assert (code, record["status"]) == (1, "regression"), record
    services = record["services"]
    assert services["store"]["build"]["cached"] == "no"
    assert services["api"]["build"]["cached"] != "no" and services["api"]["deploy"]["reused"] is True
    (check,) = record["checks"]
    assert (check["service"], check["passed"], check["outcome"]["code"]) == ("api", False, 1011)
    assert check["server_error"]["type"] == "TypeError"
    store_said = check["dependency_errors"]["store"]
    assert "WRONGTYPE" in store_said["message"], store_said
    assert "TypeError" in report and "**store logged**" in report and "WRONGTYPE" in report


def test_service_names_a_service_and_what_it_depends_on(project: Path) -> None:
    code, record, _ = run(project, "--service", "api")
    assert code == 0, record
    assert {phase.get("service") for phase in record["phases"]} == {"store", "api"}
    code, record, _ = run(project, "--service", "store")
    # The store alone has no check: deployed, but nothing was verified.
    assert (code, record["status"]) == (EXIT_INCONCLUSIVE, "inconclusive"), record
    assert {phase.get("service") for phase in record["phases"]} == {"store"}
    assert set(record["services"]) == {"store"}


def test_a_dependency_that_fails_to_deploy_skips_its_dependents_and_the_probe(project: Path) -> None:
    dockerfile = project / "store" / "Dockerfile"
    kept = dockerfile.read_text()
    dockerfile.write_text(
        kept.replace('CMD ["python3", "/app/store.py"]', 'CMD ["python3", "-c", "raise SystemExit(3)"]')
    )
    try:
        code, record, report = run(project)
    finally:
        dockerfile.write_text(kept)
    by_name = {(phase.get("service"), phase["name"]): phase for phase in record["phases"]}
    assert by_name[("store", "deploy")]["status"] == "failed"
    assert by_name[("api", "build")]["status"] == "ok"  # built beside the store: only deploys wait for it
    assert by_name[("api", "deploy")]["status"] == "skipped"
    assert by_name[("api", "deploy")]["detail"]["reason"] == "after its dependency store failed"
    assert by_name[("api", "probe")]["status"] == "skipped"
    assert record["checks"] == [] and record["status"] == "failed" and code != 0
    assert f"{uuid.UUID(int=0)}" not in report  # the report renders


def test_clean_and_doctor_see_every_service_of_the_project(project: Path) -> None:
    code, record, _ = run(project)
    assert code == 0, record
    name = record["project"]
    done = run_loopctl(project, "clean", "--dry-run", "--json", "--config", str(project / "config.yaml"))
    found = {(item["kind"], item["name"]): item for item in json.loads(done.stdout)["data"]["found"]}
    assert found[("container", f"{name}-store")]["why_kept"] == "serving"
    assert found[("container", f"{name}-api")]["why_kept"] == "serving"
    assert found[("network", f"loopctl-{name}")]["why_kept"] == "containers use it"
    assert any(kind == "image" and ref.startswith(f"127.0.0.1:5000/{name}-store") for kind, ref in found)
    done = run_loopctl(project, "doctor", "--json", "--config", str(project / "config.yaml"))
    findings = [item["name"] for item in json.loads(done.stdout)["data"]["findings"]]
    assert findings.count("engine") == 1 and "api: registry" in findings and "store: records" in findings
    assert "store: registry" not in findings  # the store is not pushed


def test_clean_keeps_the_last_images_of_each_service_not_of_the_project(project: Path, engine: Any) -> None:
    code, record, _ = run(project)
    assert code == 0, record
    name = record["project"]
    engine.containers.get(f"{name}-api").stop(timeout=1)  # its image no longer kept because it runs
    try:
        done = run_loopctl(
            project, "clean", "--dry-run", "--keep", "1", "--json", "--config", str(project / "config.yaml")
        )
        found = json.loads(done.stdout)["data"]["found"]
    finally:
        engine.containers.get(f"{name}-api").start()
    api = [item for item in found if item["kind"] == "image" and item["name"].startswith(f"127.0.0.1:5000/{name}-api")]
    # The store was built again after the api (its broken build): its images must not take the api's one place.
    assert api and {item["why_kept"] for item in api} == {"among the last 1"}, api


def test_a_companion_image_that_cannot_be_pulled_is_one_line_and_its_dependents_wait(project: Path) -> None:
    config = (project / "config.yaml").read_text()
    store = config[config.index("  store:") : config.index("  api:")]
    nowhere = "  store:\n    deploy: {target: docker, docker: {image: 127.0.0.1:5000/nowhere:1, port: 6379}}\n"
    (project / "missing.yaml").write_text(config.replace(store, nowhere))
    done = run_loopctl(project, "iterate", "--ci", "--json", "--config", str(project / "missing.yaml"), timeout=300)
    record = json.loads(done.stdout)["data"]
    by_name = {(phase.get("service"), phase["name"]): phase for phase in record["phases"]}
    error = by_name[("store", "deploy")]["error"]
    assert error["kind"] == "image_not_found", error
    assert error["message"].startswith("image 127.0.0.1:5000/nowhere:1 is not on this engine and cannot be pulled")
    assert by_name[("api", "deploy")]["detail"]["reason"] == "after its dependency store failed"
    assert done.returncode == EXIT_DEPLOY and "Traceback" not in done.stderr


def test_the_project_network_is_made_even_when_another_network_name_contains_it(engine: Any) -> None:
    from loopctl.phases.docker.deploy import ensure_network

    name = f"loopctl-test-net-{uuid.uuid4().hex[:8]}"
    engine.networks.create(f"loopctl-{name}-other")
    try:
        ensure_network(engine, f"loopctl-{name}", name)
        made = [network for network in engine.networks.list() if network.name == f"loopctl-{name}"]
        assert len(made) == 1 and made[0].attrs["Labels"] == {"loopctl.project": name}
        ensure_network(engine, f"loopctl-{name}", name)  # there now: made once
    finally:
        for network in engine.networks.list(names=[f"loopctl-{name}"]):  # both: the filter matches parts
            network.remove()
