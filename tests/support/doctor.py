"""`loopctl doctor --json` run as the user runs it, in a subprocess, its findings keyed by name."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def run_doctor(config: Path, **env: str) -> tuple[int, dict[str, dict[str, object]], str]:
    """(exit code, findings by name, stderr) of `loopctl doctor --json --config CONFIG` with `env` added."""
    done = subprocess.run(
        [sys.executable, "-m", "loopctl", "doctor", "--json", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
        check=False,
    )
    findings = {finding["name"]: finding for finding in json.loads(done.stdout)["data"]["findings"]}
    return done.returncode, findings, done.stderr
