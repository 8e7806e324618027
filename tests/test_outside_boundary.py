"""Every place that clips outside text goes through the one boundary: redacted whole, then clipped, controls gone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from loopctl.clients.docker_engine import unreachable
from loopctl.clients.google import server_text
from loopctl.config.steps import StepConfig
from loopctl.errors import UsageError
from loopctl.outside_text import NOTE_LIMIT, REASON_LIMIT, SHORT_LIMIT, last_lines
from loopctl.phases.base import Event
from loopctl.phases.cloudbuild.failure import DETAIL_LIMIT
from loopctl.phases.cloudbuild.failure import one_line as build_detail
from loopctl.probe.spec import parse_header, parse_url
from loopctl.records.store import Store
from loopctl.secrets import remember
from loopctl.terminal.live import PhaseBoard
from tests.support.records import http_check, make_record

SECRET = "b0undary-s3cret-9f27c1"
# The secret many times over at shifting offsets, so one copy straddles whatever limit a call site clips to,
# behind an escape sequence, a right-to-left override and a NUL.
HOSTILE = "\x1b[31m\u202e\x00" + "".join("x" * (i % 7) + SECRET for i in range(60))


@pytest.fixture(autouse=True)
def _known_secret() -> None:
    remember(SECRET)


def assert_display_text(shown: str, limit: int) -> None:
    """Masked (no piece of the secret a cut could leave), no control character, no longer than its bound."""
    assert "***" in shown
    assert not any(SECRET[i : i + 6] in shown for i in range(len(SECRET) - 5)), shown
    assert not {"\x1b", "\u202e", "\x00"} & set(shown)
    assert len(shown) <= limit


def test_google_server_text() -> None:
    assert_display_text(server_text(f"{HOSTILE}\nsecond line"), REASON_LIMIT)


def test_a_secret_split_over_lines_is_masked_before_the_first_line_is_kept() -> None:
    remember("line-spanning-secret-value\nsecond-half-of-it")
    shown = server_text("denied: line-spanning-secret-value\nsecond-half-of-it")
    assert "line-spanning" not in shown and shown.startswith("denied: ***")


def test_cloud_build_detail() -> None:
    assert_display_text(build_detail(HOSTILE), DETAIL_LIMIT)


def test_unreadable_record_reason(tmp_path: Path) -> None:
    record = make_record(1, "failed", checks=[http_check()]).to_json_dict()
    record["checks"][0]["load"] = {"outcomes": {HOSTILE: "not a count"}}
    (tmp_path / "0001.json").write_text(json.dumps(record))
    _, skipped = Store(tmp_path).recent(None)
    assert_display_text(skipped[0].reason, REASON_LIMIT)


def test_bad_url_and_bad_header() -> None:
    with pytest.raises(UsageError) as url_error:
        parse_url(f"ftp://{HOSTILE}")
    assert_display_text(url_error.value.message, REASON_LIMIT + 100)
    with pytest.raises(UsageError) as header_error:
        parse_header(HOSTILE)
    assert_display_text(header_error.value.message.split(": expected")[0], SHORT_LIMIT + len("bad header ''"))


def test_bad_hex_step() -> None:
    with pytest.raises(ValidationError) as err:
        StepConfig(binary_hex=HOSTILE)
    assert_display_text(err.value.errors()[0]["msg"], SHORT_LIMIT + 100)


def test_live_board_note() -> None:
    board = PhaseBoard(["build"])
    board(Event("end", "build", message=HOSTILE, status="failed", duration_s=1.0))
    assert_display_text(board.rows["build"]["note"], NOTE_LIMIT)


def test_container_log_tail() -> None:
    tail = last_lines(f"started\n{HOSTILE}\n{HOSTILE}\n", 2, 120)
    assert len(tail) == 2
    for line in tail:
        assert_display_text(line, 120)


def test_what_a_non_engine_answered() -> None:
    message = unreachable(RuntimeError(f"Error while fetching server API version: {HOSTILE}\nmore")).message
    said = message.split(" (", 1)[1].removesuffix(")")
    assert_display_text(said, 160)
