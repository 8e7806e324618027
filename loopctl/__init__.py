"""loopctl: one iteration of a build, push, deploy, probe and report loop."""

from __future__ import annotations

__version__ = "0.1.0"
