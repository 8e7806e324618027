"""Entry point for `python -m loopctl`."""

from __future__ import annotations

from loopctl.cli import app

app(prog_name="loopctl")
