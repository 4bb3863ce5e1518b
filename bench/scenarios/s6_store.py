"""Scenario 6: store throughput, measured on chatd's store adapters directly.

For each backend (SQLite embedded; MongoDB through Beanie, served by nx-27017):
append `s6_messages` messages over `s6_rooms` rooms from `s6_concurrency`
concurrent writers (persisted messages/s, append latency), then run `s6_queries`
history pages (`messages_before` at a random cursor, `messages_after` as a
resume would) and report their p50/p99/p99.9. No server and no WebSocket: this
isolates what the store costs per message.

The adapters are being written alongside the bench. `open_store` below is the one
hook that knows how to construct them; it tries the obvious shapes and otherwise
reports the backend as skipped with the reason.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench.histogram import LatencyHistogram
from bench.procs import ManagedProcess
from bench.scenarios.common import ScenarioContext
from bench.sysutil import free_port

NUMBER = 6
TITLE = "Store throughput"
BACKENDS = ("sqlite", "mongo")


class Unavailable(Exception):
    """This backend cannot be measured here yet; the message says why."""


async def open_store(kind: str, workdir: Path) -> tuple[Any, Callable[[], Awaitable[None]]]:
    if kind == "sqlite":
        from chatd.store.sqlite import SqliteStore

        sqlite = await SqliteStore.open(workdir / "s6.db")
        return sqlite, sqlite.close
    if kind == "mongo":
        from chatd.store.mongo import MongoStore

        beside_python = Path(sys.executable).with_name("nx-27017")
        exe = str(beside_python) if beside_python.exists() else shutil.which("nx-27017")
        if exe is None:
            raise Unavailable("nx-27017 is not installed (pip install nx-27017)")
        port = free_port()
        server = ManagedProcess("nx-27017", [exe, "--db", str(workdir / "nx.db"), "--host",
                                             "127.0.0.1", "-p", str(port)],
                                env=dict(os.environ), cwd=workdir,
                                log_path=workdir / "nx-27017.log")
        server.spawn()
        await _wait_port(port, server)
        try:
            mongo = await MongoStore.open(f"mongodb://127.0.0.1:{port}/chatd_bench")
        except BaseException:
            await server.stop()
            raise

        async def cleanup() -> None:
            await mongo.close()
            await server.stop()

        return mongo, cleanup
    raise ValueError(kind)


async def _wait_port(port: int, proc: ManagedProcess, timeout_s: float = 15) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not proc.alive():
            raise Unavailable(f"nx-27017 exited early:\n{proc.log_tail()}")
        try:
            _, w = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        w.close()
        await w.wait_closed()
        return
    raise Unavailable(f"nx-27017 did not listen on {port}")


async def measure(ctx: ScenarioContext, store: Any, messages: int) -> dict[str, Any]:
    from chatd.models import NewMessage, Room, RoomKind

    sz = ctx.sizes
    now_ms = int(time.time() * 1000)
    user = await store.create_user(f"s6bench{ctx.run_tag}", "not-a-real-hash")
    rooms = [f"s6{ctx.run_tag}-{i}" for i in range(sz.s6_rooms)]
    for rid in rooms:
        await store.ensure_room(Room(id=rid, name=rid, kind=RoomKind.PUBLIC,
                                     created_by=user.id, created_at=now_ms))
    text = "x" * sz.message_bytes
    append_lat = LatencyHistogram()
    counter = iter(range(messages))
    progress_every = max(1, messages // 10)

    async def writer() -> None:
        for k in counter:
            msg = NewMessage(room_id=rooms[k % len(rooms)], user_id=user.id,
                             username=user.username, text=text, nonce=f"s6-{k}")
            t = time.perf_counter_ns()
            await store.append_message(msg)
            append_lat.record_ns(time.perf_counter_ns() - t)
            if k and k % progress_every == 0:
                ctx.log(f"    appended {k:,}")

    started = time.perf_counter()
    await asyncio.gather(*(writer() for _ in range(sz.s6_concurrency)))
    append_s = time.perf_counter() - started

    rng = random.Random(9)
    last = {rid: await store.last_seq(rid) for rid in rooms}
    before_lat, after_lat = LatencyHistogram(), LatencyHistogram()
    short_pages = 0
    for _ in range(sz.s6_queries):
        rid = rng.choice(rooms)
        top = last[rid]
        cursor = rng.randint(min(sz.s6_page + 1, top), top) if top else 0
        t = time.perf_counter_ns()
        page = await store.messages_before(rid, cursor, sz.s6_page)
        before_lat.record_ns(time.perf_counter_ns() - t)
        short_pages += len(page) < min(sz.s6_page, cursor - 1)
        t = time.perf_counter_ns()
        await store.messages_after(rid, max(0, cursor - sz.s6_page), sz.s6_page)
        after_lat.record_ns(time.perf_counter_ns() - t)
    return {
        "messages": messages,
        "persisted_msgs_per_s": round(messages / append_s, 1),
        "append_s": round(append_s, 2),
        "append_latency_ms": append_lat.summary_ms(),
        "history_before_ms": before_lat.summary_ms(),
        "history_after_ms": after_lat.summary_ms(),
        "short_pages": short_pages,
        "stored_total_seq": sum(last.values()),
    }


async def run_store(ctx: ScenarioContext, workdir: Path, backends: tuple[str, ...] = BACKENDS
                    ) -> dict[str, Any]:
    sz = ctx.sizes
    out: dict[str, Any] = {"params": {"messages": sz.s6_messages, "rooms": sz.s6_rooms,
                                      "concurrency": sz.s6_concurrency,
                                      "queries": sz.s6_queries, "page": sz.s6_page},
                           "backends": {}}
    for kind in backends:
        d = workdir / f"s6-{kind}"
        d.mkdir(parents=True, exist_ok=True)
        try:
            store, cleanup = await open_store(kind, d)
        except Unavailable as exc:
            ctx.log(f"  {kind}: skipped: {exc}")
            out["backends"][kind] = {"status": "skipped", "reason": str(exc)}
            continue
        try:
            messages = sz.s6_messages
            if kind == "mongo" and sz.s6_mongo_messages:
                messages = sz.s6_mongo_messages
            res = await measure(ctx, store, messages)
            out["backends"][kind] = {"status": "ok", **res}
            ctx.log(f"  {kind}: {res['persisted_msgs_per_s']:,} msgs/s persisted, history p99 "
                    f"{res['history_before_ms']['p99']} ms")
        except Exception as exc:
            out["backends"][kind] = {"status": "failed",
                                     "error": f"{type(exc).__name__}: {exc}"}
            ctx.log(f"  {kind}: failed: {type(exc).__name__}: {exc}")
        finally:
            await cleanup()
    return out
