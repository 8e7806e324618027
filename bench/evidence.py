"""Server evidence: extraction time on a hostile log, memory of a flooded docker log read, and the wait it adds.

Each figure is measured in a subprocess running the loopctl of `--tree` (default: this repo), so an older checkout
(`git archive <commit> loopctl | tar -x -C DIR`) can be measured with the same script, paired:

  ../.venv/bin/python evidence.py                  # this tree
  ../.venv/bin/python evidence.py --tree DIR       # e.g. the commit before, for the ratio

1. `extract` over N lines of `  Traceback (most recent call last):` (in-process, seconds);
2. peak RSS of reading a window that logged M MB from a real container (the engine's stream);
3. the probe phase on the docker target: a failing check whose server logged nothing vs a passing one (medians).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from timing import PYTHON, REPO, say

LOG_MODES = REPO / "tests" / "fixtures" / "server_apps" / "log_modes.py"

EXTRACT = """
import json, sys, time
from loopctl.evidence.extract import LogLine, extract
out = {}
for count in map(int, sys.argv[1:]):
    lines = [LogLine("  Traceback (most recent call last):")] * count
    began = time.perf_counter(); extract(lines); out[count] = round(time.perf_counter() - began, 3)
print(json.dumps(out))
"""

SERVICE = """
import time, urllib.request, docker
def start(client, mode, *args):
    container = client.containers.run("loopctl-base:bookworm", ["python3", "-c", open(LOG_MODES).read(), mode, *args],
                                      detach=True, ports={"8080/tcp": ("127.0.0.1", None)})
    container.reload()
    url = "http://127.0.0.1:" + container.ports["8080/tcp"][0]["HostPort"]
    for _ in range(100):
        try:
            urllib.request.urlopen(url + "/ready", timeout=1); break
        except OSError:
            time.sleep(0.1)
    return container, url
"""

MEMORY = (
    SERVICE
    + """
import json, resource, sys
from datetime import UTC, datetime, timedelta
from loopctl.evidence.docker_logs import DockerLogs
from loopctl.evidence.window import Window
client = docker.from_env()
container, url = start(client, "flood", sys.argv[1])
try:
    began = datetime.now(UTC)
    try:
        urllib.request.urlopen(url + "/fail", timeout=300)
    except OSError:
        pass
    window = Window(began - timedelta(seconds=1), datetime.now(UTC) + timedelta(seconds=1))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.perf_counter(); DockerLogs(container.id).read(window, enough=lambda lines: True)
    took = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"mb": float(sys.argv[1]), "rss_before_mb": before // 1024, "rss_peak_mb": peak // 1024,
                      "read_s": round(took, 2)}))
finally:
    container.remove(force=True)
"""
)

PROBE = (
    SERVICE
    + """
import json, statistics, sys, tempfile
from pathlib import Path
from loopctl.config import Config
from loopctl.phases.probe import ProbePhase
from loopctl.records.store import Store
from loopctl.phases.base import Context
try:  # typed sections; a tree from before them takes a dict
    from loopctl.records.sections import DeploySection, Sections
    handed = lambda deploy: Sections(deploy=DeploySection.model_validate(deploy))
except ImportError:
    handed = lambda deploy: {"deploy": deploy}
client = docker.from_env()
container, url = start(client, "flood", "0")
try:
    deploy = {"target": "docker", "container_id": container.id, "service": container.name, "url": url}
    def phase_s(path):
        check = {"name": "api", "http": {"path": path, "expect_status": 200}}
        config = Config.model_validate({"project": "bench", "probe": {"checks": [check]}})
        ctx = Context(config, Store(Path(tempfile.mkdtemp())), 1, lambda event: None, sections=handed(deploy))
        t = time.perf_counter(); ProbePhase().run(ctx); return time.perf_counter() - t
    runs = int(sys.argv[1])
    passing = [phase_s("/ready") for _ in range(runs)]
    failing = [phase_s("/fail") for _ in range(runs)]
    spread = lambda runs: [round(min(runs), 3), round(statistics.median(runs), 3), round(max(runs), 3)]
    ratio = round(statistics.median(failing) / statistics.median(passing), 2)
    print(json.dumps({"passing_s": spread(passing), "failing_s": spread(failing), "ratio_median": ratio}))
finally:
    container.remove(force=True)
"""
)


def run(tree: Path, source: str, *args: str) -> dict[str, object]:
    code = f"import sys; sys.path.insert(0, {str(tree)!r}); LOG_MODES = {str(LOG_MODES)!r}\n{source}"
    done = subprocess.run([PYTHON, "-c", code, *args], capture_output=True, text=True, check=True, timeout=1800)
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", type=Path, default=REPO, help="the folder holding the loopctl package to measure")
    parser.add_argument("--lines", default="2000,4000,8000", help="traceback lines for the extraction figure")
    parser.add_argument("--megabytes", default="100", help="MB the container logs in the window")
    parser.add_argument("--runs", default="5", help="probe phases per kind")
    options = parser.parse_args()
    say(f"measuring the loopctl in {options.tree}")
    print("extract seconds by lines:", run(options.tree, EXTRACT, *options.lines.split(",")), flush=True)
    print("docker log read:", run(options.tree, MEMORY, options.megabytes), flush=True)
    print("probe phase, failing vs passing:", run(options.tree, PROBE, options.runs), flush=True)


if __name__ == "__main__":
    sys.exit(main())
