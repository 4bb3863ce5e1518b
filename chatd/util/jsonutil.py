"""JSON encoding in one place, so the wire format and REST agree (orjson: fast, strict)."""

from __future__ import annotations

from typing import Any

import orjson


def dumps(value: Any) -> str:
    """Encode to a str, as aiohttp's `json_response(dumps=...)` expects."""
    return orjson.dumps(value).decode()


def dumpb(value: Any) -> bytes:
    """Encode to bytes, for WebSocket frames and pub/sub payloads (no str round trip)."""
    return orjson.dumps(value)


loads = orjson.loads
JSONDecodeError = orjson.JSONDecodeError
