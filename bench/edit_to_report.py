"""Edit saved → report written: `loopctl loop` (default settings) against a hand-written `inotifywait` loop.

A: `loopctl loop --until never` on the docker target (build, push, deploy, probe, record and report).
B: `inotify_loop.sh`: inotifywait, then `docker build`, `docker push`, `docker rm -f` + `docker run`, a curl loop
until /health answers, one WebSocket chat (chat.sh) and a report file.
Both run at once, each on its own copy of the sample service, and idle while the other works: each round saves a
one-line edit in one copy and waits for that side's next report, then the other (order alternating). The clock
starts just before the save and stops when the report file appears; before the next save each side must say it
is watching again (loopctl's "waiting for a change", inotifywait's "Watches established.").
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from sandbox import TOUCHED, Sandbox
from timing import LOOPCTL, figure, median, require_venv, say, spread, verdict

from tests.support.realparts import free_port

ROUNDS = 7
GOAL_RATIO = 1.1
POLL_S = 0.002
TIMEOUT_S = 300.0
BASE_IMAGE = "loopctl-base:bookworm"
HERE = Path(__file__).resolve().parent


class Follower:
    """A process's stderr read line by line in a thread, so the bench can wait for a given line."""

    def __init__(self, label: str, stream: IO[str]) -> None:
        self.label = label
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, text: str) -> None:
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                line = None
            if line is None:
                tail = "".join(self.seen[-30:])
                say(f"{self.label} ended or stalled before saying {text!r}:\n{tail}")
                raise SystemExit(1)
            self.seen.append(line)
            if text in line:
                return


class Side:
    """One loop under test: where its reports land, how to edit its source, and the line that says it watches."""

    def __init__(self, label: str, process: subprocess.Popen[str], reports: Path, source: Path, ready: str) -> None:
        assert process.stderr is not None
        self.label, self.process, self.reports, self.source, self.ready = label, process, reports, source, ready
        self.follower = Follower(label, process.stderr)
        self.edits = 0

    def round_trip(self) -> tuple[float, float]:
        """Save an edit, wait for the next report; seconds to the report, and the wall clock at the save."""
        before = set(self.reports.glob("*.md"))
        self.edits += 1
        saved_at = time.time()
        began = time.perf_counter()
        with self.source.open("a", encoding="utf-8") as source:
            source.write(f"# edit {self.edits}\n")
        while not set(self.reports.glob("*.md")) - before:
            if time.perf_counter() - began > TIMEOUT_S:
                say(f"{self.label}: no report {TIMEOUT_S:.0f}s after the edit:\n{''.join(self.follower.seen[-30:])}")
                raise SystemExit(1)
            time.sleep(POLL_S)
        elapsed = time.perf_counter() - began
        self.follower.wait_for(self.ready)
        return elapsed, saved_at

    def stop(self) -> None:
        with_group = self.process.pid if self.label == "inotifywait" else None
        if with_group is not None:
            os.killpg(with_group, signal.SIGTERM)  # the shell and its inotifywait, started in their own session
        else:
            self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def ensure_inotifywait() -> None:
    """inotify-tools from the distribution, installed once when missing."""
    if shutil.which("inotifywait"):
        return
    say("installing inotify-tools (apt-get) for the hand-written loop")
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    done = subprocess.run(
        [*sudo, "apt-get", "install", "-y", "-q", "inotify-tools"], capture_output=True, text=True, check=False
    )
    if done.returncode != 0 or not shutil.which("inotifywait"):
        say(f"could not install inotify-tools (apt-get install inotify-tools): {done.stderr.strip()[-300:]}")
        raise SystemExit(2)


def start_loopctl(box: Sandbox) -> Side:
    config = box.write_config("loop")
    process = subprocess.Popen(
        [str(LOOPCTL), "loop", "--config", str(config), "--ci", "--until", "never"],
        cwd=box.root,
        env=box.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    return Side("loopctl loop", process, box.root / "iterations-loop", box.service / TOUCHED, "waiting for a change")


def start_raw(box: Sandbox) -> Side:
    context = box.root / "service-raw"
    shutil.copytree(box.service, context)
    reports = box.root / "raw-reports"
    reports.mkdir()
    argv = [
        "sh",
        str(HERE / "inotify_loop.sh"),
        str(context),
        box.repository("inotify"),
        box.container("inotify"),
        str(free_port()),
        box.secret,
        str(reports),
        BASE_IMAGE,
    ]
    process = subprocess.Popen(
        argv,
        env=box.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    return Side("inotifywait", process, reports, context / TOUCHED, "Watches established")


def waited(side: Side, saved_at: float) -> str:
    """For loopctl: how long after the save its iteration started, and how long the iteration itself took."""
    if side.label != "loopctl loop":
        return ""
    newest = max(side.reports.glob("*.json"), key=lambda path: path.name)
    record: dict[str, Any] = json.loads(newest.read_text())
    started, finished = (datetime.fromisoformat(record[key]).timestamp() for key in ("started_at", "finished_at"))
    return f" (iteration began {started - saved_at:.2f}s after the save, took {finished - started:.2f}s)"


def main() -> None:
    require_venv()
    ensure_inotifywait()
    times: dict[str, list[float]] = {"loopctl loop": [], "inotifywait": []}
    with Sandbox("edit") as box:
        sides = [start_loopctl(box), start_raw(box)]
        try:
            for side in sides:
                side.follower.wait_for(side.ready)
            for side in sides:
                elapsed, _ = side.round_trip()
                say(f"warm-up {side.label} (first build and push to a fresh repository; not counted): {elapsed:.2f}s")
            for round_number in range(1, ROUNDS + 1):
                order = sides if round_number % 2 else sides[::-1]
                for side in order:
                    elapsed, saved_at = side.round_trip()
                    times[side.label].append(elapsed)
                    say(f"round {round_number} {side.label:<12} {elapsed:.2f}s{waited(side, saved_at)}")
        finally:
            for side in sides:
                side.stop()
    report(times)


def report(times: dict[str, list[float]]) -> None:
    loop, raw = times["loopctl loop"], times["inotifywait"]
    ratio = median(loop) / median(raw)
    say(f"  min/median/max: loopctl loop {spread(loop)}, inotifywait loop {spread(raw)}")
    figure(
        f"edit_to_report: edit saved -> report written, loopctl loop {median(loop):.2f}s vs hand-written inotifywait"
        f" loop {median(raw):.2f}s = {ratio:.2f}x (median of {ROUNDS} each, alternating; goal <= {GOAL_RATIO:g}x)"
        f" {verdict(ratio <= GOAL_RATIO)}"
    )


if __name__ == "__main__":
    main()
