"""`loopctl doctor`: one line per thing the config needs, ✅ or ❌ with the fix."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from loopctl.commands import ConfigOption
from loopctl.exitcodes import ExitCode


def doctor(
    config: ConfigOption = Path("config.yaml"),
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object to stdout.")] = False,
) -> None:
    """Check the config, the Docker Engine, the registry and credentials; exit 1 if anything is missing."""
    from dataclasses import asdict

    from loopctl.doctor import diagnose
    from loopctl.terminal.console import stderr_console
    from loopctl.terminal.output import emit_json, guarded

    def run() -> ExitCode:
        findings = diagnose(config)
        code = ExitCode.OK if all(finding.ok for finding in findings) else ExitCode.CHECKS_FAILED
        if as_json:
            emit_json("doctor", {"findings": [asdict(finding) for finding in findings]}, exit_code=code)
        console = stderr_console()
        for finding in findings:
            mark = "⚠️" if finding.warning else "✅" if finding.ok else "❌"
            fix = f" — {finding.fix}" if finding.fix and (finding.warning or not finding.ok) else ""
            console.print(f"{mark} {finding.name}: {finding.detail}{fix}", markup=False)
        return code

    guarded(as_json, run, command="doctor")
