"""A config of several services: what it must get right is a config error naming the line, and views in order."""

from __future__ import annotations

from pathlib import Path

import pytest

from loopctl.config import load_config
from loopctl.config.services import fill_refs, needed_by, selected, service_views
from loopctl.errors import UsageError
from tests.reliability.harness import EXIT_USAGE, run_loopctl
from tests.support.services import SHOP


def load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return load_config(path)


def problem(tmp_path: Path, text: str) -> str:
    with pytest.raises(UsageError) as raised:
        load(tmp_path, text)
    return raised.value.message


def test_the_issue_config_reads_as_two_views_in_deploy_order_with_their_own_blocks(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(SHOP)
    config = load_config(tmp_path / "config.yaml")
    views = service_views(config)
    assert [view.name for view in views] == ["store", "api"]
    store, api = views
    assert store.config.build is None and store.config.deploy is not None
    assert store.config.deploy.docker is not None and store.config.deploy.docker.image == "redis:7"
    assert store.config.deploy.docker.name == "shop-store"  # PROJECT-SERVICE
    assert api.depends_on == ("store",) and api.config.build is not None
    assert [check.name for check in api.config.probe.checks] == ["chat"] and not store.config.probe.checks
    assert [view.name for view in selected(views, ["api"])] == ["store", "api"]
    assert [view.name for view in selected(views, ["store"])] == ["store"]
    assert needed_by(views, "api") == ["store"] and needed_by(views, "store") == []


def test_one_service_is_named_after_the_project_and_its_container_too(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("project: solo\ndeploy: {target: docker, docker: {port: 8080}}\n")
    config = load_config(tmp_path / "config.yaml")
    (view,) = service_views(config)
    assert (view.name, view.several) == ("solo", False)
    assert config.deploy is not None and config.deploy.docker is not None and config.deploy.docker.name == "solo"


def test_a_cycle_is_a_config_error_that_names_it_and_its_line(tmp_path: Path) -> None:
    text = SHOP.replace(
        "    deploy: {target: docker, docker: {image",
        "    depends_on: [api]\n    deploy: {target: docker, docker: {image",
    )
    message = problem(tmp_path, text)
    assert "dependency cycle: store → api → store" in message
    assert "config.yaml:4:" in message, message


def test_a_host_port_used_twice_and_an_unknown_dependency_are_both_said_with_their_lines(tmp_path: Path) -> None:
    text = SHOP.replace("port: 6379}", "port: 6379, host_port: 18080}")
    text = text.replace("depends_on: [store]", "depends_on: [store, cache]")
    message = problem(tmp_path, text)
    assert "services.api.depends_on: no service named 'cache'" in message
    assert "config.yaml:6:" in message, message
    assert "services.api.deploy.docker.host_port: host port 18080 is also services.store's" in message
    assert "config.yaml:11:" in message, message


def test_a_reference_to_a_service_that_is_not_a_dependency_says_to_add_it(tmp_path: Path) -> None:
    text = SHOP.replace("depends_on: [store]", "depends_on: []").replace('"store:6379"', '"{services.store.host}:6379"')
    message = problem(tmp_path, text)
    assert "{services.store.host} is known only once store is deployed: add store to services.api.depends_on" in message


def test_a_check_name_two_services_use_and_top_level_blocks_beside_services_are_refused(tmp_path: Path) -> None:
    text = SHOP.replace(
        "    deploy: {target: docker, docker: {image",
        "    probe: {checks: [{name: chat, http: {path: /}}]}\n    deploy: {target: docker, docker: {image",
    )
    assert "check name 'chat' is also used by store" in problem(tmp_path, text)
    message = problem(tmp_path, SHOP + "deploy: {target: url, url: http://x}\n")
    assert "give deploy inside each service under services:" in message


def test_an_image_named_beside_a_build_is_refused(tmp_path: Path) -> None:
    text = "project: p\nbuild: {image: 127.0.0.1:5000/p}\ndeploy: {target: docker, docker: {image: 'redis:7'}}\n"
    assert "give either build (loopctl builds the image) or deploy.docker.image" in problem(tmp_path, text)


def test_service_references_are_filled_from_what_the_dependencies_made_known() -> None:
    peers = {"store": {"host": "store", "url": "http://store:6379"}}
    assert fill_refs("{services.store.host}:6379 {services.store.url}", peers) == "store:6379 http://store:6379"
    assert fill_refs("{services.other.url}", peers) == "{services.other.url}"


def test_an_unknown_service_on_the_command_line_names_the_known_ones(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(SHOP)
    views = service_views(load_config(tmp_path / "config.yaml"))
    with pytest.raises(UsageError) as raised:
        selected(views, ["web"])
    assert raised.value.message == "--service web: no such service in the config"
    assert raised.value.hint == "the services are: store, api"


def test_image_and_service_flags_that_do_not_fit_the_config_are_usage_errors(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(SHOP)
    done = run_loopctl(tmp_path, "iterate", "--image", "127.0.0.1:5000/x@sha256:" + "0" * 64)
    assert done.returncode == EXIT_USAGE
    assert "--image deploys one image, and this config has several services" in done.stderr
    assert not (tmp_path / "iterations").exists()  # nothing half-written
    (tmp_path / "config.yaml").write_text("project: solo\ndeploy: {target: url, url: http://127.0.0.1:9}\n")
    done = run_loopctl(tmp_path, "iterate", "--service", "api")
    assert done.returncode == EXIT_USAGE and "--service needs a config with services:" in done.stderr


def test_a_cloud_run_service_cannot_be_handed_a_container_on_this_machine(tmp_path: Path) -> None:
    cloudrun = (
        "{target: cloudrun, cloudrun: {project: p, region: r, service: api, env: {STORE: '{services.store.url}'}}}"
    )
    text = SHOP.replace("    build: {context: api, image: 127.0.0.1:5000/shop-api}\n    push: {auth: none}\n", "")
    start = text.index("    deploy:\n      target: docker\n      docker: {port: 8080")
    end = text.index("    probe:", start)
    text = text[:start] + f"    deploy: {cloudrun}\n" + text[end:]
    message = problem(tmp_path, text)
    assert "services.api.deploy.cloudrun.env.STORE: store runs on this machine's engine" in message, message


def test_thousands_of_chained_services_order_and_a_cycle_through_them_is_named(tmp_path: Path) -> None:
    count = 3000  # past the interpreter's recursion limit: neither the order nor the cycle search recurses
    blocks = "".join(
        f"  s{index}:\n    depends_on: [s{index + 1}]\n    deploy: {{target: url, url: 'http://127.0.0.1:9'}}\n"
        for index in range(count - 1)
    )
    last = f"  s{count - 1}:\n    deploy: {{target: url, url: 'http://127.0.0.1:9'}}\n"
    (tmp_path / "config.yaml").write_text(f"project: long\nservices:\n{blocks}{last}")
    names = [view.name for view in service_views(load_config(tmp_path / "config.yaml"))]
    assert names == [f"s{index}" for index in reversed(range(count))]
    looped = last.replace("  s2999:\n", "  s2999:\n    depends_on: [s0]\n")
    message = problem(tmp_path, f"project: long\nservices:\n{blocks}{looped}")
    assert "services: a dependency cycle: s0 → s1 → s2 → s3 → … 2994 more → s2998 → s2999 → s0" in message
    assert len(message) < 1000
