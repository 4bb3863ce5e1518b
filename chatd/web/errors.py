"""The one error shape of the REST API: `{"error": {"code", "message"[, "fields"]}}`.

Views raise `ApiError` for HTTP-only failures (a malformed body, a missing
header) and let the domain's `chatd.errors.Refused` through: the middleware
answers it with the status its code maps to, so a view can call an action
(`chatd.actions`) without translating its refusals.

Backend outages are answered here, once for every view: `Unavailable` is 503
`unavailable` with `Retry-After`, `StorageFull` is 507 `storage_full`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any, Final

from aiohttp import web

from chatd.errors import Refused, StorageFull, Unavailable
from chatd.keys import OUTAGES
from chatd.util.jsonutil import dumps

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


#: The code of an error response, kept on it so the request middleware counts
#: refusals by code (chatd/web/observe.py) without reading the body back.
ERROR_CODE: Final = web.ResponseKey("error_code", str)


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    fields: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    response = web.json_response(
        error_body(code, message, fields), status=status, headers=headers, dumps=dumps
    )
    response[ERROR_CODE] = code
    return response


#: The HTTP status of each error code. The first code listed for a status is
#: also the one given to the HTTP errors aiohttp itself raises with it (routing,
#: body size, methods); the domain's own codes follow.
STATUS_OF_CODE: dict[str, int] = {
    "bad_request": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "not_found": 404,
    "method_not_allowed": 405,
    "conflict": 409,
    "too_large": 413,
    "unsupported_media_type": 415,
    "invalid": 422,
    "rate_limited": 429,
    "token_expired": 401,
    "bad_credentials": 401,
    "room_exists": 409,
    "dm_conflict": 409,
    "username_taken": 409,
    # The request is fine but the object is full: it may succeed once it is not.
    "limit_reached": 409,
    "call_full": 409,
    "not_in_call": 409,
    "audio_only": 422,
}
#: A refusal with a code not in the table is still the client's to fix.
UNLISTED_REFUSAL_STATUS = 400
_HTTP_CODES = {status: code for code, status in reversed(STATUS_OF_CODE.items())}


@web.middleware
async def error_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """Give every /api and health error the contract's JSON shape; never leak a traceback.

    Outages get it on every path (downloads too): a 503 with Retry-After tells
    a client or proxy to come back, where a 500 would claim the server is broken.
    """
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except ApiError as exc:
        return error_response(
            exc.status, exc.code, exc.message, fields=exc.fields, headers=exc.headers
        )
    except Unavailable as exc:
        request.app[OUTAGES].note(exc, f"{request.method} {request.path}")
        return unavailable_response(exc)
    except StorageFull as exc:
        request.app[OUTAGES].note(exc, f"{request.method} {request.path}")
        return storage_full_response(exc)
    except Refused as exc:
        return refusal_response(exc)
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


def refusal_response(exc: Refused) -> web.Response:
    """A domain refusal in the contract's shape; `fields` and `retry_after` are kept."""
    status = STATUS_OF_CODE.get(exc.code, UNLISTED_REFUSAL_STATUS)
    headers = None
    retry_after = exc.extra.get("retry_after")
    if retry_after is not None:
        headers = {"Retry-After": str(max(1, math.ceil(retry_after)))}
    return error_response(
        status, exc.code, exc.message, fields=exc.extra.get("fields"), headers=headers
    )


def unavailable_response(exc: Unavailable) -> web.Response:
    """503 for a backend outage: which backend, and when to try again (not the cause)."""
    return error_response(
        503,
        "unavailable",
        f"the server's {exc.backend} is unavailable; retry in {exc.retry_after} s",
        headers={"Retry-After": str(exc.retry_after)},
    )


def storage_full_response(exc: StorageFull) -> web.Response:
    return error_response(
        507, "storage_full", f"the server's {exc.backend} is full; nothing was stored"
    )


def _kept_headers(exc: web.HTTPException) -> dict[str, str]:
    kept = {}
    for name in ("Allow", "Retry-After"):
        if name in exc.headers:
            kept[name] = exc.headers[name]
    return kept
