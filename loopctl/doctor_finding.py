"""One thing `loopctl doctor` looked at: whether it is fine, what it saw, and the fix when it is not."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Finding:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    warning: bool = False  # worth fixing, but nothing fails because of it


def credentials_finding(name: str, fix: str) -> Finding:
    """Whether application-default credentials are there (and for which project); `fix` when they are not."""
    try:
        import google.auth

        _, project = google.auth.default()
    except Exception as err:  # google-auth raises several unrelated types for "no credentials"
        return Finding(name, False, f"none found ({type(err).__name__})", fix)
    return Finding(name, True, f"application-default credentials (project {project or '?'})")
