"""The embedded defaults on a platform with an ephemeral disk: one warning at start-up."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import pytest


async def test_start_up_warns_once_naming_the_variables_to_set(
    start_server: Any, make_settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings = dataclasses.replace(
        make_settings(), ephemeral_platform="Heroku (DYNO)", secret_generated=True
    )
    with caplog.at_level(logging.WARNING, logger="chatd"):
        await start_server(settings=settings)
    warnings = [r.getMessage() for r in caplog.records if "Heroku (DYNO)" in r.getMessage()]
    assert len(warnings) == 1
    assert "set MONGODB_URI, S3_BUCKET, CHATD_SECRET_KEY" in warnings[0]


async def test_no_warning_off_platform(
    start_server: Any, make_settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="chatd"):
        await start_server(settings=make_settings())
    assert not [r for r in caplog.records if "whose disk is lost" in r.getMessage()]
