"""Records of a project of several services (`store`, a companion; `api`, built and deployed after it)."""

from __future__ import annotations

from typing import Any

from loopctl.records.record import Record
from tests.support.records import closed, digest, http_check, make_record

API_URL = "http://127.0.0.1:18080"
STORE_CONTAINER = "5e1f" * 16


def services(number: int) -> dict[str, Any]:
    """`store` runs an image loopctl does not build; `api` is built, pushed and deployed after it."""
    store = {
        "deploy": {
            "target": "docker",
            "service": "shop-store",
            "revision": STORE_CONTAINER[:12],
            "container_id": STORE_CONTAINER,
            "image": "redis:7",
            "image_id": digest(0xC0),
            "url": "http://127.0.0.1:16379",
        }
    }
    api = {
        "depends_on": ["store"],
        "build": {
            "image": "shop-api",
            "image_id": digest(0xA0 + number),
            "input_digest": digest(number),
            "cached": "no",
        },
        "push": {"reference": f"shop-api:it-{number:04d}", "digest": digest(0xB0 + number)},
        "deploy": {"target": "docker", "service": "shop-api", "revision": f"a9{number:010d}", "url": API_URL},
    }
    return {"store": store, "api": api}


def service_phases(**failed: dict[str, Any]) -> list[dict[str, Any]]:
    """The runner's order: each service's build, push, deploy in deploy order, then each one's probe."""
    rows = [("store", "deploy", 1.5), ("api", "build", 20.0), ("api", "push", 3.0), ("api", "deploy", 2.5)]
    rows += [("store", "probe", 0.2), ("api", "probe", 1.1)]
    phases = [{"name": name, "service": service, "status": "ok", "duration_s": took} for service, name, took in rows]
    return [{**phase, **failed.get(f"{phase['service']}.{phase['name']}", {})} for phase in phases]


def shop(number: int, status: str, chat: dict[str, Any], **fields: Any) -> Record:
    """An iteration of the shop: the store's ping passes; api's health passes and its chat as given."""
    checks = [
        {**http_check("ping"), "service": "store"},
        {**http_check(), "service": "api"},
        {**chat, "name": "chat", "service": "api"},
    ]
    fields = {"phase_rows": service_phases(), "services": services(number), **fields}
    return make_record(number, status, checks=checks, project="shop", build=None, push=None, deploy=None, **fields)


def story() -> tuple[Record, Record]:
    before = shop(1, "failed", closed(1008, "Authentication failed"))
    after = shop(2, "progress", closed(1011, "Internal error", ["agent_started"]))
    return before, after
