"""Request-body and query parsing through marshmallow, with the contract's error shapes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web
from marshmallow import Schema, ValidationError

from chatd.util.jsonutil import JSONDecodeError, loads
from chatd.web.errors import ApiError


async def parse_body(request: web.Request, schema: Schema) -> dict[str, Any]:
    """Decode a JSON object body and validate it; 400 if not JSON, 422 with fields if invalid."""
    raw = await request.read()
    try:
        data = loads(raw) if raw else None
    except JSONDecodeError:
        raise ApiError(400, "bad_request", "request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise ApiError(400, "bad_request", "request body must be a JSON object")
    return validate(schema, data)


def parse_query(request: web.Request, schema: Schema) -> dict[str, Any]:
    return validate(schema, dict(request.query))


def validate(schema: Schema, data: Mapping[str, Any]) -> dict[str, Any]:
    try:
        loaded: dict[str, Any] = schema.load(data)
    except ValidationError as exc:
        raise ApiError(
            422, "invalid", "some fields are invalid", fields=_flatten(exc.messages)
        ) from None
    return loaded


def _flatten(messages: Any) -> dict[str, Any]:
    if isinstance(messages, dict):
        return {str(k): v for k, v in messages.items()}
    return {"_schema": messages}
