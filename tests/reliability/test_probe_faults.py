"""Probes that meet a dying server, no DNS, a silent peer and frames no client wants: each classified, each recorded."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from tests.integration.agent_service import running_service
from tests.reliability.harness import (
    EXIT_CHECKS,
    JWT_AUTH,
    JWT_SECRET,
    assert_complete,
    assert_no_traceback,
    chat_check,
    iterate,
    start_iterate,
    url_config,
    write_config,
)
from tests.support.wsservers import close_frame, frame, scripted, tcp_server


def test_a_server_process_that_dies_mid_stream_is_an_abnormal_closure(tmp_path: Path) -> None:
    with running_service(fault="slow", secret=JWT_SECRET, extra_env={"SLOW_DELAY": "0.4"}) as service:
        write_config(tmp_path, url_config(service.http_url, chat_check(auth=JWT_AUTH)))
        running = start_iterate(tmp_path, "--ci")
        running.wait_for("probe   started")
        time.sleep(0.6)  # agent_started at once, agent_thinking at 0.4 s, then the process is gone
        service.process.send_signal(signal.SIGKILL)
        code, _, stderr = running.finish()
    assert code == EXIT_CHECKS, stderr
    record = assert_complete(tmp_path, 1, status="failed", phases=[("deploy", "ok"), ("probe", "failed")])
    check = record["checks"][0]
    outcome = check["outcome"]
    assert (outcome["category"], outcome["code"], outcome["origin"], outcome["depth"]) == (
        "abnormal_closure",
        1006,
        None,
        3,
    )
    assert "never sent on the wire" in outcome["label"]
    assert 1 <= len(check["events_seen"]) < 5 and check["events_seen"][0] == "agent_started"
    assert_no_traceback(stderr)


def test_an_unresolvable_host_is_a_dns_error_for_every_check(tmp_path: Path) -> None:
    health = "    - name: health\n      http: {path: /health, timeout: 5}\n"
    write_config(tmp_path, url_config("http://loopctl-reliability.invalid:8080", health + chat_check(timeout=5)))
    began = time.monotonic()
    done = iterate(tmp_path, "--ci")
    assert done.returncode == EXIT_CHECKS, done.stderr
    assert time.monotonic() - began < 20
    record = assert_complete(tmp_path, 1, status="failed", phases=[("deploy", "ok"), ("probe", "failed")])
    assert [(check["outcome"]["category"], check["outcome"]["depth"]) for check in record["checks"]] == [
        ("dns_error", 0),
        ("dns_error", 0),
    ]
    assert "loopctl-reliability.invalid" in record["checks"][1]["outcome"]["reason"]
    assert_no_traceback(done.stderr)


async def _listen_and_say_nothing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while await reader.read(65536):
        pass


def test_a_peer_that_accepts_and_never_speaks_times_out_within_the_check_timeout(tmp_path: Path) -> None:
    with tcp_server(_listen_and_say_nothing) as port:
        checks = (
            "    - name: health\n      http: {path: /health, timeout: 2}\n"
            "    - name: chat\n      websocket: {path: /ws, expect_events: [hello], timeout: 2}\n"
        )
        write_config(tmp_path, url_config(f"http://127.0.0.1:{port}", checks))
        done = iterate(tmp_path, "--ci", timeout=30)
    assert done.returncode == EXIT_CHECKS, done.stderr
    record = assert_complete(tmp_path, 1, status="failed", phases=[("deploy", "ok"), ("probe", "failed")])
    http, websocket = record["checks"]
    assert (http["outcome"]["category"], websocket["outcome"]["category"]) == ("no_response", "handshake_timeout")
    assert websocket["outcome"]["depth"] == 1 and "2s" in websocket["outcome"]["reason"]
    for check in (http, websocket):
        assert 1900 <= check["latency_ms"]["total"] <= 2600, check["latency_ms"]
    assert next(phase["duration_s"] for phase in record["phases"] if phase["name"] == "probe") < 4


TWO_MIB = 2 * 1024 * 1024
SCRIPTS = {
    # name: (frames the server writes, what then)
    "bad-reason": ([frame(0x1, b'{"type": "hello"}'), close_frame(1011, b"\xff\xfe broken \xc3")], "wait"),
    "oversized": ([frame(0x1, b'{"type": "hello", "pad": "' + b"x" * TWO_MIB + b'"}')], "wait"),
    "binary-then-close": ([frame(0x2, b"\x00\x01"), frame(0x2, b"\xff"), close_frame(1000, b"bye")], "wait"),
    "binary-then-silence": ([frame(0x2, b"\x00\x01"), frame(0x2, b"\xff")], "wait"),
}


@pytest.fixture(scope="module")
def odd_frames(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """One iteration probing four raw servers, each ending its stream in a way no well-behaved server would."""
    folder = tmp_path_factory.mktemp("odd-frames")
    with ExitStack() as servers:
        ports = {
            name: servers.enter_context(tcp_server(scripted(raw, then=then))) for name, (raw, then) in SCRIPTS.items()
        }
        checks = "".join(
            f"    - name: {name}\n"
            f"      websocket: {{url: 'ws://127.0.0.1:{port}/', expect_events: [hello, done], timeout: 2}}\n"
            for name, port in ports.items()
        )
        write_config(folder, f"project: reliability\nprobe:\n  checks:\n{checks}")
        done = iterate(folder, "--ci", timeout=30)
    record = assert_complete(folder, 1, status="failed", phases=[("probe", "failed")])
    return done, {check["name"]: check for check in record["checks"]}


def test_odd_frames_end_in_a_complete_record_and_exit_1(
    odd_frames: tuple[subprocess.CompletedProcess[str], dict[str, Any]],
) -> None:
    done, checks = odd_frames
    assert done.returncode == EXIT_CHECKS, done.stderr
    assert sorted(checks) == sorted(SCRIPTS)
    assert_no_traceback(done.stderr)


def test_a_close_reason_that_is_not_utf8_is_the_probes_own_1007(
    odd_frames: tuple[subprocess.CompletedProcess[str], dict[str, Any]],
) -> None:
    check = odd_frames[1]["bad-reason"]
    outcome = check["outcome"]
    # The reason cannot be decoded, so the probe fails the connection itself (1007) instead of reporting 1011.
    assert (outcome["code"], outcome["category"], outcome["origin"], outcome["depth"]) == (
        1007,
        "invalid_payload",
        "client",
        3,
    )
    assert outcome["label"].startswith("sent 1007") and "not UTF-8" in outcome["hint"]
    assert check["events_seen"] == ["hello"]


def test_a_frame_over_the_limit_is_the_probes_own_1009(
    odd_frames: tuple[subprocess.CompletedProcess[str], dict[str, Any]],
) -> None:
    outcome = odd_frames[1]["oversized"]["outcome"]
    assert (outcome["code"], outcome["category"], outcome["origin"]) == (1009, "oversized_message", "client")
    assert "exceeds limit of 1048576 bytes" in outcome["reason"]


def test_binary_frames_before_silence_are_counted_and_named(
    odd_frames: tuple[subprocess.CompletedProcess[str], dict[str, Any]],
) -> None:
    check = odd_frames[1]["binary-then-silence"]
    assert (check["frames_ignored"], check["events_seen"], check["outcome"]["category"]) == (2, [], "no_response")
    assert "2 frame(s) were not JSON events" in check["outcome"]["reason"]


def test_binary_frames_before_a_close_are_counted_and_named(
    odd_frames: tuple[subprocess.CompletedProcess[str], dict[str, Any]],
) -> None:
    check = odd_frames[1]["binary-then-close"]
    outcome = check["outcome"]
    assert (check["frames_ignored"], check["events_seen"]) == (2, [])
    assert (outcome["code"], outcome["category"]) == (1000, "closed_early")
    # README: binary and non-JSON frames are "named in the reason if the check fails" -- however it ended.
    assert "2 frame(s)" in outcome["reason"] + outcome["label"], outcome
