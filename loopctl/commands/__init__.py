"""One small module per command: options in, core call, rendering out."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

CONFIG_ENV = "LOOPCTL_CONFIG"
# Every command that reads the config takes it from -c, else LOOPCTL_CONFIG, else config.yaml.
ConfigOption = Annotated[
    Path,
    typer.Option(
        "--config", "-c", envvar=CONFIG_ENV, help="The config file (default: $LOOPCTL_CONFIG, else config.yaml)."
    ),
]
