"""The observability settings (#20): defaults, values, and errors naming the variable."""

from __future__ import annotations

import logging

import pytest

from chatd.settings import SettingsError, load_settings
from chatd.util.log_limiter import LimitedLog


def settings(tmp_path, **env):
    return load_settings({"CHATD_DATA_DIR": str(tmp_path), **env}, env_file=None)


def test_defaults_are_text_logs_no_access_log_and_no_metrics(tmp_path):
    s = settings(tmp_path)
    assert (s.log_format, s.access_log, s.metrics_token, s.metrics_port) == (
        "text",
        False,
        None,
        None,
    )


def test_values_are_read(tmp_path):
    s = settings(
        tmp_path,
        CHATD_LOG_FORMAT="JSON",
        CHATD_ACCESS_LOG="true",
        CHATD_METRICS_TOKEN=" tok ",
        CHATD_METRICS_PORT="9100",
    )
    assert (s.log_format, s.access_log, s.metrics_token, s.metrics_port) == (
        "json",
        True,
        "tok",
        9100,
    )


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"CHATD_LOG_FORMAT": "xml"}, "CHATD_LOG_FORMAT"),
        ({"CHATD_ACCESS_LOG": "sometimes"}, "CHATD_ACCESS_LOG"),
        ({"CHATD_METRICS_PORT": "metrics"}, "CHATD_METRICS_PORT"),
        ({"CHATD_METRICS_PORT": "70000"}, "CHATD_METRICS_PORT"),
        ({"CHATD_METRICS_PORT": "8080"}, "CHATD_METRICS_PORT"),
        ({"CHATD_METRICS_PORT": "5000", "PORT": "5000"}, "CHATD_METRICS_PORT"),
    ],
)
def test_bad_values_name_their_variable(tmp_path, env, variable):
    with pytest.raises(SettingsError) as error:
        settings(tmp_path, **env)
    assert error.value.variable == variable


def test_the_limited_log_forgets_kinds_past_its_bound(caplog):
    """Kinds can come from clients (an origin): the table must not grow without bound."""
    caplog.set_level(logging.WARNING, logger="test.limited")
    log = LimitedLog(logging.getLogger("test.limited"), max_kinds=3)
    for kind in range(10):
        log.note(kind, logging.WARNING, "kind %s", kind)
        log.note(kind, logging.WARNING, "kind %s", kind)
    assert len(log._kinds) <= 3
    assert [r.getMessage() for r in caplog.records] == [f"kind {k}" for k in range(10)]
