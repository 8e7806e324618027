"""Two `iterate` runs on one folder: one runs, the other exits 2 at once; numbering stays dense afterwards."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.integration.agent_service import running_service
from tests.reliability.harness import (
    EXIT_USAGE,
    JWT_AUTH,
    JWT_SECRET,
    Running,
    assert_complete,
    assert_no_traceback,
    chat_check,
    iterate,
    iterations,
    record_of,
    start_iterate,
    url_config,
    write_config,
)

LOCKED = "another loopctl iteration is running"
# A suite that holds the iteration (and so its lock) until the test writes `go` beside the config.
GATED_SUITE = """\
suites:
  - name: gate
    timeout: 60
    command: "while [ ! -e go ]; do sleep 0.05; done; cp pass.xml {junit}"
"""
PASSING_JUNIT = '<testsuite name="gate" tests="1"><testcase classname="gate" name="t"/></testsuite>'


def _first_to_exit(racers: list[Running], *, timeout: float = 60) -> int:
    """The index of the racer that ends first; the other is held by the gated suite until the test opens it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for index, racer in enumerate(racers):
            if racer.process.poll() is not None:
                return index
        time.sleep(0.05)
    raise AssertionError("neither racer ended: the one without the lock should be refused at once")


def assert_refused(code: int, stdout: str, stderr: str) -> None:
    """Exit 2, the lock message, and with --json one error envelope on stdout."""
    assert code == EXIT_USAGE, stderr
    assert LOCKED in stderr
    assert json.loads(stdout)["errors"][0]["kind"] == "usage"
    assert_no_traceback(stderr)


def test_a_second_iterate_is_refused_while_the_first_runs_and_numbering_stays_dense(tmp_path: Path) -> None:
    with running_service(fault="slow", secret=JWT_SECRET, extra_env={"SLOW_DELAY": "0.3"}) as service:
        write_config(tmp_path, url_config(service.http_url, chat_check(auth=JWT_AUTH)))
        first = start_iterate(tmp_path, "--ci")
        first.wait_for("probe   started")
        assert_refused(*start_iterate(tmp_path, "--ci", "--json").finish())
        code, _, stderr = first.finish()
        assert code == 0, stderr

        # Started together: whichever takes the lock runs, the other is refused; neither waits for the other. The
        # winner's suite waits for a file the test writes only once a racer has exited, so the two surely overlap.
        (tmp_path / "pass.xml").write_text(PASSING_JUNIT)
        write_config(tmp_path, url_config(service.http_url, chat_check(auth=JWT_AUTH)) + GATED_SUITE)
        racers = [start_iterate(tmp_path, "--ci", "--json") for _ in range(2)]
        first_out = _first_to_exit(racers)
        (tmp_path / "go").touch()
        results = [racer.finish() for racer in racers]
        winners = [result for result in results if result[0] == 0]
        losers = [result for result in results if result[0] != 0]
        assert len(winners) == 1 and len(losers) == 1, [result[2] for result in results]
        assert results[first_out] is losers[0]
        assert_refused(*losers[0])
        assert json.loads(winners[0][1])["data"]["number"] == 2
        write_config(tmp_path, url_config(service.http_url, chat_check(auth=JWT_AUTH)))

        for _ in range(3):
            assert iterate(tmp_path, "--ci").returncode == 0
    numbers = sorted(int(path.stem) for path in iterations(tmp_path).glob("*.json"))
    assert numbers == [1, 2, 3, 4, 5]
    for number in numbers:
        gated = [("suites", "ok")] if number == 2 else []
        assert_complete(tmp_path, number, status="success", phases=[("deploy", "ok"), ("probe", "ok"), *gated])
    assert [record_of(tmp_path, number)["previous"] for number in numbers] == [None, 1, 2, 3, 4]
