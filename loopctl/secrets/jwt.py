"""HS256 JWT minting with the standard library, so probes can carry a fresh token."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def mint_jwt(secret: str, claims: Mapping[str, Any], *, ttl: int = 300, now: float | None = None) -> str:
    """Return an HS256 JWT carrying `claims` plus `iat` and `exp` (`ttl` seconds from now)."""
    issued = int(time.time() if now is None else now)
    payload = {"iat": issued, "exp": issued + ttl, **claims}
    header = {"alg": "HS256", "typ": "JWT"}
    signing_input = ".".join(
        _b64url(json.dumps(part, separators=(",", ":"), sort_keys=True).encode()) for part in (header, payload)
    )
    signature = hmac.new(secret.encode(), signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{_b64url(signature)}"
