"""Log context (request id, user id) and the process's log format, text or JSON.

The request id and user id are context variables: the request middleware sets
them for an HTTP request's task, the WebSocket gateway for a socket's reader
loop (whose frames are handled inline), so every line logged while serving
them carries both without being passed down.
"""

from __future__ import annotations

import logging
import re
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Final

import orjson

from chatd.util.clock import new_id

#: The request (or socket) being served; None outside one.
request_id_var: ContextVar[str | None] = ContextVar("chatd_request_id", default=None)
#: The user being served, once known; None outside a request or before auth.
user_id_var: ContextVar[str | None] = ContextVar("chatd_user_id", default=None)

#: An incoming X-Request-Id is kept only if it is a short token: it is echoed in
#: a header and written to every log line, so it must not carry anything else.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
REQUEST_ID_HEADER: Final = "X-Request-Id"

TEXT_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def request_id_from(header: str | None) -> str:
    """The incoming id when it is a bounded token, else a new one."""
    if header is not None and _REQUEST_ID.fullmatch(header):
        return header
    return new_id()


class JsonFormatter(logging.Formatter):
    """One JSON object per line: level, message, logger, time, node and the context."""

    def __init__(self, node: str) -> None:
        super().__init__()
        self._node = node

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "node": self._node,
        }
        # Structured details a caller passed as extra={"fields": {...}} (the access log).
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            for name, value in fields.items():
                line.setdefault(str(name), value)
        request_id = request_id_var.get()
        if request_id is not None:
            line["request_id"] = request_id
        user_id = user_id_var.get()
        if user_id is not None:
            line["user_id"] = user_id
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        # default=str: a message argument orjson cannot encode never loses the line.
        return orjson.dumps(line, default=str).decode()


def configure_logging(level: str, log_format: str, node: str) -> None:
    """The root logger's one handler (stderr) in the chosen format."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter(node))
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
