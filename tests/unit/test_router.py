"""The frame-type table: built once, from entry points, duplicates refused naming both sources."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from chatd.handlers.base import FrameContext, Handler
from chatd.realtime.router import (
    FrameRouter,
    HandlerRegistrationError,
    HandlerSpec,
    discover_handlers,
)


class Echo(Handler):
    frame_type: ClassVar[str] = "message"

    async def handle(self, ctx: FrameContext, frame: dict[str, Any]) -> None:
        raise NotImplementedError


def test_builtins_are_discovered_through_the_plugin_entry_points():
    types = {spec.cls.frame_type for spec in discover_handlers(distributions=["chatd"])}
    assert {"join", "leave", "message", "typing", "resume", "ping", "hello", "reauth"} <= types


def test_a_plugin_is_loaded_only_when_asked_for(sample_plugin: str):
    assert "roll" not in {s.cls.frame_type for s in discover_handlers(distributions=["chatd"])}
    with_dice = discover_handlers(distributions=["chatd", sample_plugin])
    assert "roll" in {s.cls.frame_type for s in with_dice}


def test_a_duplicate_frame_type_fails_naming_both_sources():
    builtins = discover_handlers(distributions=["chatd"])
    with pytest.raises(HandlerRegistrationError) as error:
        FrameRouter([*builtins, HandlerSpec(Echo, "my_plugin:Echo")], services=None)  # type: ignore[arg-type]
    message = str(error.value)
    assert "'message'" in message
    assert "chatd.handlers.messages:MessageHandler" in message and "my_plugin:Echo" in message


def test_something_that_is_not_a_handler_is_refused():
    with pytest.raises(HandlerRegistrationError, match="not a chatd Handler"):
        FrameRouter([HandlerSpec(dict, "bogus:thing")], services=None)  # type: ignore[arg-type]
