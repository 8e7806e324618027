"""`loopctl probe URL --flags` and a config.yaml check that says the same thing build the same `Check`."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from loopctl.config import load_config
from loopctl.errors import UsageError
from loopctl.probe.from_config import app_codes_of, build_check
from loopctl.probe.options import check_from_options
from loopctl.probe.spec import Check

TOKEN = "flag-and-config-t0ken"
OPTIONS: dict[str, Any] = {
    "send": None,
    "expect_events": (),
    "event_field": "type",
    "timeout": 30.0,
    "hold": 1.0,
    "expect_status": None,
    "headers": (),
    "token_env": None,
    "token_file": None,
    "token_command": None,
    "auth": "bearer",
    "ca_bundle": None,
    "close_codes": (),
}


def _from_config(tmp_path: Path, check: str, close_codes: str = "{}") -> Check:
    path = tmp_path / "config.yaml"
    text = f"project: same\nprobe:\n  close_codes: {close_codes}\n  checks:\n    - {check}\n"
    path.write_text(text, encoding="utf-8")
    config = load_config(path, environ={"SAME_TOKEN": TOKEN})
    return build_check(config.probe.checks[0], None, app_codes_of(config.probe.close_codes))


def _comparable(check: Check) -> tuple[Check, str | None]:
    """A check with its token as the value it reveals (a `Secret` compares by identity)."""
    return dataclasses.replace(check, token=None), check.token.reveal() if check.token else None


CASES = [
    (
        {"send": '{"type": "hi"}', "expect_events": ["a", "b"], "token_env": "SAME_TOKEN", "timeout": 5.0},
        "{name: c, websocket: {url: 'ws://h:1/ws', send: {type: hi}, expect_events: [a, b], timeout: 5, "
        "auth: {type: bearer, token: {env: SAME_TOKEN}}}}",
    ),
    (
        {"token_env": "SAME_TOKEN", "auth": "query", "event_field": "kind", "hold": 0.5},
        "{name: c, websocket: {url: 'ws://h:1/ws', event_field: kind, hold: 0.5, "
        "auth: {type: query, token: {env: SAME_TOKEN}}}}",
    ),
    (
        {"token_env": "SAME_TOKEN", "auth": "subprotocol", "headers": ["X-Env: staging"], "ca_bundle": "ca.pem"},
        "{name: c, websocket: {url: 'wss://h:1/ws', auth: {type: subprotocol, token: {env: SAME_TOKEN}}, "
        "headers: {X-Env: staging}, ca_bundle: ca.pem}}",
    ),
    (
        {"expect_status": 204, "headers": ["X-Env: staging"], "token_env": "SAME_TOKEN", "timeout": 3.0},
        "{name: c, http: {url: 'http://h:1/health', expect_status: 204, timeout: 3, headers: {X-Env: staging}, "
        "auth: {type: bearer, token: {env: SAME_TOKEN}}}}",
    ),
    (
        {"token_env": "SAME_TOKEN", "auth": "query", "ca_bundle": "ca.pem", "timeout": 10.0},
        "{name: c, http: {url: 'https://h:1/health', ca_bundle: ca.pem, "
        "auth: {type: query, token: {env: SAME_TOKEN}}}}",
    ),
]
URLS = ["ws://h:1/ws", "ws://h:1/ws", "wss://h:1/ws", "http://h:1/health", "https://h:1/health"]


@pytest.mark.parametrize(("url", "options", "check"), [(url, *case) for url, case in zip(URLS, CASES, strict=True)])
def test_flags_and_config_build_the_same_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, options: dict[str, Any], check: str
) -> None:
    monkeypatch.setenv("SAME_TOKEN", TOKEN)
    flags = check_from_options(url, **{**OPTIONS, **options, "close_codes": ["4001=token_expired"]})
    configured = _from_config(tmp_path, check, close_codes="{4001: token_expired}")
    assert _comparable(flags) == _comparable(configured)
    assert flags.token is not None and flags.token.reveal() == TOKEN


def test_the_token_fills_a_url_placeholder_from_flags_as_from_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SAME_TOKEN", "a/b")
    flags = check_from_options("ws://h:1/ws/{token}", **{**OPTIONS, "token_env": "SAME_TOKEN", "auth": "query"})
    assert flags.url == "ws://h:1/ws/a%2Fb"


@pytest.mark.parametrize(
    ("url", "options", "message"),
    [
        ("ws://h:1/ws", {"timeout": 5000.0}, "bad --timeout '5000.0': "),
        ("ws://h:1/ws", {"hold": 4000.0}, "bad --hold '4000.0': "),
        ("http://h:1/x", {"expect_status": 99}, "bad --expect-status '99': "),
        ("http://h:1/x", {"token_env": "SAME_TOKEN", "auth": "subprotocol"}, "bad --auth 'subprotocol': "),
        ("ws://h:1/ws", {"token_env": ""}, "bad --token-env '': "),
        ("ws://h:1/ws", {"close_codes": ["1008=auth"]}, "bad --close-code '1008=auth': application close codes are"),
        ("ws://h:1/ws", {"close_codes": ["4001"]}, "bad --close-code '4001': expected CODE=NAME"),
        ("ws://h:1/ws", {"token_env": "A", "token_file": "f"}, "--token-env and --token-file both name a token"),
        ("ws://h:1/ws", {"token_env": "SAME_TOKEN", "auth": "message"}, "bad options: auth type 'message' sends"),
        ("ws://h:1/ws", {"headers": ["X-A: 1", "X-A: 2"]}, "--header X-A is given twice"),
    ],
)
def test_flags_are_refused_where_the_config_refuses_naming_the_flag(
    monkeypatch: pytest.MonkeyPatch, url: str, options: dict[str, Any], message: str
) -> None:
    monkeypatch.setenv("SAME_TOKEN", TOKEN)
    with pytest.raises(UsageError) as refused:
        check_from_options(url, **{**OPTIONS, **options})
    assert refused.value.message.startswith(message), refused.value.message
    assert "\n" not in refused.value.message
