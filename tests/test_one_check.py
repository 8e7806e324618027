"""`loopctl probe --check NAME` of a project of several services: the check's own service's latest deployment."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from loopctl.errors import UsageError
from loopctl.one_check import run_configured_check
from loopctl.records.store import Store
from tests.support.health import health_service
from tests.support.records import http_check, make_record

CONFIG = """\
project: shop
services:
  store:
    deploy: {target: docker, docker: {image: "redis:7", port: 6379}}
    probe: {checks: [{name: ping, http: {path: /ping, expect_status: 200}}]}
  api:
    depends_on: [store]
    deploy: {target: docker, docker: {image: "shop-api:1", port: 8080, host_port: 18080}}
    probe: {checks: [{name: health, http: {path: /health, expect_status: 200}}]}
"""


@pytest.fixture
def api_url() -> Iterator[str]:
    with health_service() as url:
        yield url


@contextlib.contextmanager
def socket_nobody_listens() -> Iterator[str]:
    """A loopback URL whose port is bound but not listening: every connection to it is refused."""
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{bound.getsockname()[1]}"


def test_a_check_runs_against_the_latest_deployment_of_its_own_service(tmp_path: Path, api_url: str) -> None:
    (tmp_path / "config.yaml").write_text(CONFIG)
    with socket_nobody_listens() as nowhere:
        parts = {
            "store": {"deploy": {"target": "docker", "url": nowhere}},
            "api": {"depends_on": ["store"], "deploy": {"target": "docker", "url": api_url}},
        }
        record = make_record(1, "success", checks=[http_check()], project="shop", deploy=None, services=parts)
        Store(tmp_path / "iterations").save(record, None)
        _, item, result = run_configured_check(tmp_path / "config.yaml", "health", None)
        assert item.name == "health"
        assert result.url == f"{api_url}/health" and result.passed
        _, _, ping = run_configured_check(tmp_path / "config.yaml", "ping", None)
        assert ping.url == f"{nowhere}/ping" and not ping.passed  # the store's own URL, not the api's


def test_an_unknown_check_names_those_of_every_service(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(CONFIG)
    with pytest.raises(UsageError) as refused:
        run_configured_check(tmp_path / "config.yaml", "nope", "http://127.0.0.1:9")
    assert refused.value.hint == "checks: ping, health"


def test_one_service_s_check_runs_against_the_latest_deployment_that_has_a_url(tmp_path: Path, api_url: str) -> None:
    config = "project: agent\ndeploy: {target: docker, docker: {image: 'agent:1', port: 8080}}\n"
    config += "probe: {checks: [{name: health, http: {path: /health, expect_status: 200}}]}\n"
    (tmp_path / "config.yaml").write_text(config)
    store = Store(tmp_path / "iterations")
    store.save(make_record(1, "success", checks=[http_check()], deploy={"target": "docker", "url": api_url}), None)
    store.save(make_record(2, "failed", deploy={"target": "docker", "url": None}), None)  # its deploy failed
    _, _, result = run_configured_check(tmp_path / "config.yaml", "health", None)
    assert result.url == f"{api_url}/health" and result.passed
