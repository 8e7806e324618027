"""Loading a config with 200 checks, and with 2,000: `load_config` in-process (libyaml, then the model).

The second figure is the ratio: ten times the checks should cost about ten times as much (linear), not a hundred.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import time
from pathlib import Path

import yaml
from timing import PYTHON, REPO, checked, figure, median, ms, require_venv, say, spread, verdict

sys.path.insert(0, str(REPO))

import loopctl.yaml_lines as yaml_lines
from loopctl.config import load_config

CHECKS = 200
MANY_CHECKS = 2_000
RUNS = 21
MANY_RUNS = 7
GOAL_S = 0.060
GOAL_RATIO = 12.0  # linear, with room for what does not grow with the checks
SECRET_ENV = "BENCH_JWT_SECRET"


def config_text(checks: int) -> str:
    """The repo's two checks (health, chat-events with a JWT), repeated under new names."""
    lines = [
        "project: bench",
        "iterations_dir: iterations",
        "deploy: {target: url, url: 'http://127.0.0.1:18080'}",
        "probe:",
        "  close_codes: {4001: token_expired, 4002: {category: quota, depth: 3, hint: wait}}",
        "  checks:",
    ]
    for number in range(checks // 2):
        lines += [
            f"    - name: health-{number}",
            "      priority: 1",
            "      http: {path: /health, expect_status: 200}",
            f"    - name: chat-events-{number}",
            "      priority: 2",
            "      impact: Users can chat and see the agent work",
            "      websocket:",
            "        path: /ws",
            "        auth:",
            "          type: bearer",
            f"          token: {{jwt: {{secret: {{env: {SECRET_ENV}}}, claims: {{sub: probe}}, ttl: 300}}}}",
            "        send: {type: user_message, payload: {content: hello}}",
            "        expect_events: [agent_started, agent_thinking, tool_executing, tool_completed, agent_completed]",
            "        timeout: 30",
        ]
    return "\n".join(lines) + "\n"


def timed_loads(path: Path, loader: type, *, runs: int = RUNS, checks: int = CHECKS) -> list[float]:
    yaml_lines.SAFE_LOADER = loader
    samples = []
    for run in range(runs + 1):
        began = time.perf_counter()
        config = load_config(path)
        elapsed = time.perf_counter() - began
        if run:
            samples.append(elapsed)
    assert len(config.probe.checks) == checks
    return samples


def import_cost() -> str:
    """What importing the config module costs a fresh interpreter (pydantic and the models), -X importtime."""
    _, done = checked([PYTHON, "-X", "importtime", "-c", "import loopctl.config"])
    found = re.search(r"\|\s+(\d+) \| loopctl\.config$", done.stderr, re.MULTILINE)
    return f"{int(found[1]) / 1000:.0f} ms" if found else "?"


def main() -> None:
    require_venv()
    os.environ[SECRET_ENV] = "bench-secret"
    with tempfile.TemporaryDirectory(prefix="loopctl-bench-config-") as folder:
        path = Path(folder) / "config.yaml"
        path.write_text(config_text(CHECKS), encoding="utf-8")
        say(f"config: {CHECKS} checks, {len(path.read_text().splitlines())} lines; libyaml: {yaml.__with_libyaml__}")
        pure = median(timed_loads(path, yaml.SafeLoader))
        libyaml = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        fast_samples = timed_loads(path, libyaml)
        many = Path(folder) / "many.yaml"
        many.write_text(config_text(MANY_CHECKS), encoding="utf-8")
        many_samples = timed_loads(many, libyaml, runs=MANY_RUNS, checks=MANY_CHECKS)
    fast = median(fast_samples)
    ratio = median(many_samples) / fast
    say(f"  {MANY_CHECKS} checks (min/median/max of {MANY_RUNS}): {spread(many_samples, 'ms')}")
    say(f"  {CHECKS} checks (min/median/max of {RUNS}): {spread(fast_samples, 'ms')}; ratio {ratio:.1f}x")
    say(f"  load_config with the pure-Python parser: median {ms(pure)}")
    say(f"  load_config with libyaml (the default): median {ms(fast)}, min {ms(min(fast_samples))}")
    say(f"  importing loopctl.config in a fresh interpreter (not in the figure): {import_cost()}")
    met = fast <= GOAL_S and ratio <= GOAL_RATIO
    figure(
        f"config: load_config with {CHECKS} checks {ms(fast)} (libyaml, one pass; pure-Python parser {ms(pure)});"
        f" {MANY_CHECKS} checks {ms(median(many_samples))} = {ratio:.1f}x"
        f" (median; goals <= {ms(GOAL_S)}, <= {GOAL_RATIO:g}x) {verdict(met)}"
    )


if __name__ == "__main__":
    main()
