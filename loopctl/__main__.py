"""Entry point for `python -m loopctl`."""

from __future__ import annotations

from loopctl.cli import main

main()
