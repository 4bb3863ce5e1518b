"""The one error shape of the REST API: `{"error": {"code", "message"[, "fields"]}}`."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from chatd.jsonutil import dumps

logger = logging.getLogger(__name__)


class ApiError(Exception):
    """Raised by views; the error middleware turns it into the contract's JSON body."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        fields: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields
        self.headers = headers


def error_body(code: str, message: str, fields: Mapping[str, Any] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if fields:
        error["fields"] = dict(fields)
    return {"error": error}


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    fields: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    return web.json_response(
        error_body(code, message, fields), status=status, headers=headers, dumps=dumps
    )


#: Codes for the HTTP errors aiohttp itself raises (routing, body size, methods).
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "rate_limited",
}


@web.middleware
async def error_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """Give every /api and health error the contract's JSON shape; never leak a traceback."""
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except ApiError as exc:
        return error_response(
            exc.status, exc.code, exc.message, fields=exc.fields, headers=exc.headers
        )
    except web.HTTPException as exc:
        if exc.status < 400 or not request.path.startswith("/api/"):
            raise
        code = _HTTP_CODES.get(exc.status, "error")
        return error_response(exc.status, code, exc.reason, headers=_kept_headers(exc))
    except Exception:
        if not request.path.startswith("/api/"):
            raise
        logger.exception("unhandled error in %s %s", request.method, request.path)
        return error_response(500, "internal", "internal server error")


def _kept_headers(exc: web.HTTPException) -> dict[str, str]:
    kept = {}
    for name in ("Allow", "Retry-After"):
        if name in exc.headers:
            kept[name] = exc.headers[name]
    return kept
