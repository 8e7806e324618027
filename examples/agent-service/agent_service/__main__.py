"""Entry point: `python -m agent_service` reads the environment and serves until told to stop."""

from __future__ import annotations

import asyncio
import logging
import os
import sys

from .server import serve_until_stopped
from .settings import SettingsError, load_settings

log = logging.getLogger("agent_service")


def main() -> int:
    """Run the service; 0 after a signal, 2 for a bad setting, 1 when the port cannot be bound."""
    try:
        settings = load_settings(os.environ)
    except SettingsError as exc:
        print(f"agent_service: {exc}", file=sys.stderr)
        return 2
    _configure_logging()
    if settings.jwt_secret is None:
        log.warning("JWT_SECRET is not set: every token will be rejected")
    try:
        asyncio.run(serve_until_stopped(settings))
    except OSError as exc:
        print(f"agent_service: cannot listen on {settings.host}:{settings.port}: {exc}", file=sys.stderr)
        return 1
    return 0


def _configure_logging() -> None:
    # stdout carries only the `listening on` line; everything else goes to stderr.
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("websockets").setLevel(logging.WARNING)


if __name__ == "__main__":
    sys.exit(main())
