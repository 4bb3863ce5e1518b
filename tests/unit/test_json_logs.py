"""CHATD_LOG_FORMAT=json's formatter: one parseable object per record, with its context."""

from __future__ import annotations

import io
import json
import logging

from chatd.observability.logs import JsonFormatter, request_id_from, request_id_var, user_id_var


def _logger() -> tuple[logging.Logger, io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter("node-1"))
    logger = logging.getLogger("test.json_logs")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger, out


def test_a_line_has_the_fields_and_the_context_where_known():
    logger, out = _logger()
    logger.info("outside a request")
    request_token = request_id_var.set("req-1")
    user_token = user_id_var.set("user-1")
    try:
        logger.warning("inside %s", "one", extra={"fields": {"status": 200, "level": "forged"}})
    finally:
        user_id_var.reset(user_token)
        request_id_var.reset(request_token)
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["message"] == "outside a request" and first["node"] == "node-1"
    assert first["level"] == "INFO" and first["logger"] == "test.json_logs" and first["time"]
    assert "request_id" not in first and "user_id" not in first
    assert second["message"] == "inside one" and second["status"] == 200
    assert second["level"] == "WARNING"  # extra fields never override the record's own
    assert (second["request_id"], second["user_id"]) == ("req-1", "user-1")


def test_an_exception_is_kept_in_one_line():
    logger, out = _logger()
    try:
        raise ValueError("broken\nacross lines")
    except ValueError:
        logger.exception("it failed")
    [line] = out.getvalue().splitlines()
    record = json.loads(line)
    assert record["level"] == "ERROR"
    assert "ValueError: broken" in record["exception"] and "Traceback" in record["exception"]


def test_request_ids_are_kept_only_when_they_are_short_tokens():
    assert request_id_from("abc-123_x.y:z") == "abc-123_x.y:z"
    for bad in (None, "", "a b", "x" * 129, "é", "a\nb"):
        generated = request_id_from(bad)
        assert generated != bad and generated.isalnum()
