"""A third-party handler (the sample chatd-dice package) and a failing handler, over a real socket."""

from __future__ import annotations

from typing import Any, ClassVar

from chatd.handlers.base import FrameContext, Handler
from chatd.realtime.router import HandlerSpec, discover_handlers
from tests.client import ChatClient


class Explodes(Handler):
    """A handler with a bug: the router must contain it."""

    frame_type: ClassVar[str] = "explode"

    async def handle(self, ctx: FrameContext, frame: dict[str, Any]) -> None:
        raise RuntimeError("boom")


async def test_the_installed_sample_plugin_answers_its_frame(aiohttp_server, make_settings):
    from chatd.app import create_app

    app = create_app(
        make_settings(), handlers=discover_handlers(distributions=["chatd", "chatd-dice"])
    )
    server = await aiohttp_server(app)
    client = ChatClient(str(server.make_url("/")), check_frames=False)
    try:
        await client.register()
        await client.connect()
        await client.send({"type": "roll", "room": "general", "dice": "2d20", "ref": "d"})
        roll = await client.expect("roll")
        assert roll["dice"] == "2d20" and len(roll["rolls"]) == 2
        error = await client.request({"type": "roll", "room": "general", "dice": "lots"})
        assert error["type"] == "error" and "dice" in error["fields"]
    finally:
        await client.close()


async def test_a_handler_exception_becomes_an_error_frame_and_the_socket_lives(
    aiohttp_server, make_settings, caplog
):
    from chatd.app import create_app
    from tests.fixtures.app import builtin_handlers

    app = create_app(
        make_settings(), handlers=[*builtin_handlers(), HandlerSpec(Explodes, "tests:Explodes")]
    )
    server = await aiohttp_server(app)
    client = ChatClient(str(server.make_url("/")))
    try:
        await client.register()
        await client.connect()
        error = await client.request({"type": "explode"})
        assert error["type"] == "error" and error["code"] == "internal"
        assert "boom" not in error["message"], "internals stay in the log"
        assert any(
            "boom" in r.getMessage() or (r.exc_info and "boom" in str(r.exc_info[1]))
            for r in caplog.records
        )
        assert (await client.request({"type": "ping"}))["type"] == "pong"
    finally:
        await client.close()
