"""The one JSON envelope every `--json` command prints and every MCP tool returns: version, status, data, errors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from loopctl import __version__
from loopctl.errors import LoopctlError

# Bumped when a field of the envelope itself is renamed or removed; adding one keeps the number.
# Each command's `data` follows its own shape (the record, the history rows, ...), versioned inside it.
ENVELOPE_SCHEMA = 1

EnvelopeStatus = Literal["ok", "failed", "error"]


def error_entry(err: LoopctlError) -> dict[str, str]:
    """An expected failure as the envelope lists it; the message is redacted, like everything else shown."""
    from loopctl.secrets import redact

    return {"kind": err.kind, "message": redact(err.message), "hint": redact(err.hint)}


def envelope(
    command: str,
    *,
    exit_code: int,
    data: Any = None,
    errors: Sequence[dict[str, str]] = (),
) -> dict[str, Any]:
    """`ok` on exit 0; `error` when the command could not do its job (errors say why); else `failed` (the
    checks, the build or the deploy failed, or the verdict is inconclusive: `data` says which)."""
    status: EnvelopeStatus = "error" if errors else "ok" if exit_code == 0 else "failed"
    return {
        "loopctl": __version__,
        "schema": ENVELOPE_SCHEMA,
        "command": command,
        "status": status,
        "exit_code": int(exit_code),
        "data": data,
        "errors": list(errors),
    }
