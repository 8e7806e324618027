"""A small WebSocket agent backend that streams five events per message, and misbehaves on request."""

from __future__ import annotations
