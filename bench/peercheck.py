"""Conformance check: the official python-socketio client talks to the peer.

The load itself uses bench.protocol's lean Socket.IO client; this proves once per
run that what the lean client measures is a real Socket.IO server, reachable by
`socketio.AsyncClient(transports=["websocket"])`, and that bad tokens are refused.
"""

from __future__ import annotations

import asyncio
from typing import Any

import socketio

from bench.targets import Target


async def check_peer(target: Target, token: str) -> dict[str, Any]:
    url = target.url(0)
    client = socketio.AsyncClient(reconnection=False)
    got: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def on_message(data: dict[str, Any]) -> None:
        await got.put(data)

    client.on("message", on_message)

    result: dict[str, Any] = {}
    await client.connect(url, transports=["websocket"], auth={"token": token},
                         wait_timeout=5)
    try:
        result["join_ack"] = await client.call("join", {"room": "peercheck"}, timeout=5)
        result["message_ack"] = await client.call(
            "message", {"room": "peercheck", "text": "hello", "nonce": "n1"}, timeout=5)
        echo = await asyncio.wait_for(got.get(), 5)
        result["echo_fields"] = sorted(echo)
        result["echo_seq"] = echo.get("seq")
    finally:
        await client.disconnect()

    bad = socketio.AsyncClient(reconnection=False)
    try:
        await bad.connect(url, transports=["websocket"], auth={"token": "not-a-jwt"},
                          wait_timeout=5)
    except socketio.exceptions.ConnectionError as exc:
        result["bad_token"] = f"refused: {exc}"
    else:
        await bad.disconnect()
        result["bad_token"] = "ACCEPTED (peer auth is broken)"
    result["ok"] = (result["bad_token"].startswith("refused")
                    and isinstance(result.get("echo_seq"), int))
    return result
