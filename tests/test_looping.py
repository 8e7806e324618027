"""`loopctl loop` after an iteration: an edit saved while it ran starts the next one without waiting."""

from __future__ import annotations

from pathlib import Path

from loopctl.config import load_config
from loopctl.looping import inputs_moved
from loopctl.phases.inputs import input_digest
from tests.support.records import make_record
from tests.support.services import SHOP

CONFIG = "project: svc\nbuild: {context: ., image: 127.0.0.1:5000/svc}\n"


def test_an_edit_during_the_iteration_is_seen_and_its_own_records_are_not(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(CONFIG)
    (tmp_path / "Dockerfile").write_text("FROM scratch\nCOPY . /srv\n")
    (tmp_path / "main.py").write_text("print('v1')\n")
    built = input_digest(load_config(tmp_path / "config.yaml"))
    record = make_record(1, "failed", build={"image": "127.0.0.1:5000/svc", "input_digest": built, "cached": "no"})
    (tmp_path / "iterations").mkdir()
    (tmp_path / "iterations" / "0001.json").write_text("{}\n")
    assert not inputs_moved(record, tmp_path / "config.yaml")
    (tmp_path / "main.py").write_text("print('v2')\n")
    assert inputs_moved(record, tmp_path / "config.yaml")


def test_without_a_build_or_with_a_broken_config_nothing_moved(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(CONFIG)  # no Dockerfile: input_digest refuses
    record = make_record(1, "failed", build={"image": "x", "input_digest": "sha256:00", "cached": "no"})
    assert not inputs_moved(record, tmp_path / "config.yaml")
    assert not inputs_moved(make_record(1, "failed", build=None), tmp_path / "config.yaml")


def test_an_edit_to_one_of_several_services_during_the_iteration_is_seen(tmp_path: Path) -> None:
    from loopctl.config.services import service_views

    (tmp_path / "config.yaml").write_text(SHOP)
    (tmp_path / "api").mkdir()
    (tmp_path / "api" / "Dockerfile").write_text("FROM scratch\nCOPY . /srv\n")
    (tmp_path / "api" / "main.py").write_text("print('v1')\n")
    api = next(view for view in service_views(load_config(tmp_path / "config.yaml")) if view.name == "api")
    built = {"image": "127.0.0.1:5000/shop-api", "input_digest": input_digest(api.config), "cached": "no"}
    parts = {"store": {"deploy": {"target": "docker"}}, "api": {"depends_on": ["store"], "build": built}}
    record = make_record(1, "failed", project="shop", build=None, push=None, deploy=None, services=parts)
    assert not inputs_moved(record, tmp_path / "config.yaml")
    (tmp_path / "api" / "main.py").write_text("print('v2')\n")
    assert inputs_moved(record, tmp_path / "config.yaml")


def test_the_loop_waits_from_what_each_service_built_not_from_the_tree_as_it_is_once_the_iteration_ended(
    tmp_path: Path,
) -> None:
    from loopctl.config.services import service_views
    from loopctl.looping import _built_state
    from loopctl.watch import source_state, source_tree

    (tmp_path / "config.yaml").write_text(SHOP)
    (tmp_path / "api").mkdir()
    (tmp_path / "api" / "Dockerfile").write_text("FROM scratch\nCOPY . /srv\n")
    (tmp_path / "api" / "main.py").write_text("print('v1')\n")
    config = load_config(tmp_path / "config.yaml")
    api = next(view for view in service_views(config) if view.name == "api")
    built = {"image": "127.0.0.1:5000/shop-api", "input_digest": input_digest(api.config), "cached": "no"}
    parts = {"store": {"deploy": {"target": "docker"}}, "api": {"depends_on": ["store"], "build": built}}
    record = make_record(1, "failed", project="shop", build=None, push=None, deploy=None, services=parts)
    tree = source_tree(config)
    assert tree is not None and _built_state(record, tree) == source_state(tree)
    (tmp_path / "api" / "main.py").write_text("print('v2')\n")  # saved after the iteration, before the wait
    assert _built_state(record, tree) != source_state(tree)  # so the wait sees the edit at once
