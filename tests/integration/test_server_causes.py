"""Refusals that raise nothing: real services log why at WARNING or without a level, and loopctl quotes that line.

Each app in tests/fixtures/server_apps/ runs as a subprocess on 127.0.0.1; the real probe is refused by it, and the
check's evidence is chosen from what the process printed, as the probe phase chooses it from the service's log.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import jwt

from loopctl.config import CheckConfig
from loopctl.evidence.collect import error_for
from loopctl.evidence.extract import LogLine
from loopctl.phases.probe import check_record, quote_in_hint
from loopctl.probe.options import run_check_sync
from loopctl.probe.spec import Check
from loopctl.records.record import CheckRecord, ServerError
from tests.integration.test_server_errors import APPS, free_port, running

SECRET = "causes-test-secret-" + "0123456789abcdef" * 4  # long enough for HS512
WRONG_ALG = jwt.encode({"sub": "probe"}, SECRET, algorithm="HS512")
LOG_TIMEOUT_S = 10.0


def refused(url: str) -> CheckRecord:
    item = CheckConfig.model_validate({"name": "chat", "websocket": {"url": url, "timeout": 10}})
    return check_record(item, run_check_sync(Check(url=url, timeout=10)))


def evidence(check: CheckRecord, printed: Callable[[], str], wanted: str) -> ServerError | None:
    """What the probe phase would quote from the process's output, once the line it is waiting for is there."""
    began = time.monotonic()
    while wanted not in printed() and time.monotonic() - began < LOG_TIMEOUT_S:
        time.sleep(0.05)
    return error_for(check, [LogLine(line) for line in printed().splitlines()])


def test_a_fastapi_services_warning_is_the_cause_of_its_1008() -> None:
    port = free_port()
    command = [sys.executable, str(APPS / "fastapi_auth_app.py"), str(port), SECRET]
    with running(command, port) as printed:
        check = refused(f"ws://127.0.0.1:{port}/ws?token={WRONG_ALG}")
        found = evidence(check, printed, "authentication failed")
    assert (check.outcome.code, check.outcome.reason) == (1008, "Authentication failed")
    assert found is not None, printed()
    assert found.type == "WARNING"
    assert found.message.endswith(
        "WARNING app.api.ws_auth: authentication failed: The specified alg value is not allowed"
    )
    hint = quote_in_hint(check.model_copy(update={"server_error": found}))
    assert hint.outcome.hint.endswith("authentication failed: The specified alg value is not allowed")


def test_a_node_services_unlevelled_line_is_the_cause_of_its_401_at_the_upgrade() -> None:
    port = free_port()
    with running(["node", str(APPS / "node_auth_app.js"), str(port)], port) as printed:
        check = refused(f"ws://127.0.0.1:{port}/ws?token={WRONG_ALG}")
        found = evidence(check, printed, "token rejected")
    assert (check.outcome.code, check.outcome.category) == (401, "handshake_rejected")
    assert found is not None, printed()
    assert (found.type, found.message) == ("LOG", "token rejected: JsonWebTokenError: invalid algorithm")
    assert found.lines == ("token rejected: JsonWebTokenError: invalid algorithm",)  # not "listening"
