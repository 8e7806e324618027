"""Where a /ws client carries its token, and whether that token is a valid, unexpired HS256 JWT."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit

SUBPROTOCOL_PREFIX = "jwt."
_BEARER = re.compile(r"bearer\s+(\S+)\s*", re.IGNORECASE)
_JWT_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


def token_from(*, authorization: str | None, subprotocol: str | None, target: str) -> str | None:
    """The token from `Authorization: Bearer`, else a `jwt.<t>` subprotocol, else `?token=`."""
    bearer = _BEARER.fullmatch(authorization or "")
    if bearer:
        return bearer.group(1)
    if subprotocol and subprotocol.startswith(SUBPROTOCOL_PREFIX):
        return subprotocol.removeprefix(SUBPROTOCOL_PREFIX)
    tokens = parse_qs(urlsplit(target).query).get("token")
    return tokens[0] if tokens else None


def choose_subprotocol(offered: Sequence[str]) -> str | None:
    """Echo the first `jwt.<t>` subprotocol offered: browsers can only send a token this way."""
    return next((name for name in offered if name.startswith(SUBPROTOCOL_PREFIX)), None)


def token_problem(token: str | None, secret: str | None, *, now: float) -> str | None:
    """Why `token` is not accepted (for the log), or None when it is valid."""
    if secret is None:
        return "JWT_SECRET is not set"
    if token is None:
        return "no token"
    if not _JWT_SHAPE.fullmatch(token):
        return "malformed token"
    header_b64, payload_b64, signature_b64 = token.split(".")
    header, payload = _json_segment(header_b64), _json_segment(payload_b64)
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        return "unsupported alg (only HS256)"
    expected = hmac.new(secret.encode(), f"{header_b64}.{payload_b64}".encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(expected, _b64url_decode(signature_b64)):
        return "bad signature"
    if not isinstance(payload, dict):
        return "payload is not a JSON object"
    return _expiry_problem(payload.get("exp"), now=now)


def _expiry_problem(exp: Any, *, now: float) -> str | None:
    if exp is None:
        return None
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        return "exp is not a number"
    return "expired" if now >= exp else None


def _json_segment(segment: str) -> Any:
    try:
        return json.loads(_b64url_decode(segment))
    except ValueError:  # covers bad JSON and bad UTF-8
        return None


def _b64url_decode(segment: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except binascii.Error:  # a length no encoder produces; b"" matches no signature and no JSON
        return b""
