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
import inspect
import os
import random
import shutil
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


async def _construct(cls: Any, *args: Any) -> Any:
    """Build an adapter whatever its lifecycle shape: an async `open`/`connect`
    classmethod, or a constructor followed by an async set-up method."""
    # TODO(bench): replace with the adapters' documented constructors once
    # chatd.store.sqlite / chatd.store.mongo land (and drop the guessing).
    for factory in ("open", "connect", "create"):
        fn = getattr(cls, factory, None)
        if fn is not None and isinstance(inspect.getattr_static(cls, factory),
                                         classmethod | staticmethod):
            obj = fn(*args)
            return await obj if inspect.isawaitable(obj) else obj
    store = cls(*args)
    for setup in ("open", "connect", "start", "init", "initialize", "setup"):
        fn = getattr(store, setup, None)
        if callable(fn):
            res = fn()
            if inspect.isawaitable(res):
                await res
            break
    return store


async def _close(store: Any) -> None:
    for name in ("close", "aclose", "stop"):
        fn = getattr(store, name, None)
        if callable(fn):
            res = fn()
            if inspect.isawaitable(res):
                await res
            return


async def open_store(kind: str, workdir: Path) -> tuple[Any, Callable[[], Awaitable[None]]]:
    if kind == "sqlite":
        try:
            from chatd.store.sqlite import SqliteStore  # type: ignore[import-not-found, unused-ignore]  # noqa: PLC0415 - may not exist yet
        except ImportError as exc:
            raise Unavailable(f"chatd.store.sqlite.SqliteStore is not importable yet ({exc})"
                              ) from exc
        store = await _construct(SqliteStore, workdir / "s6.db")
        return store, lambda: _close(store)
    if kind == "mongo":
        try:
            from chatd.store.mongo import MongoStore  # type: ignore[import-not-found, unused-ignore]  # noqa: PLC0415 - may not exist yet
        except ImportError as exc:
            raise Unavailable(f"chatd.store.mongo.MongoStore is not importable yet ({exc})"
                              ) from exc
        exe = shutil.which("nx-27017")
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
            store = await _construct(MongoStore, f"mongodb://127.0.0.1:{port}/chatd_bench")
        except BaseException:
            await server.stop()
            raise

        async def cleanup() -> None:
            await _close(store)
            await server.stop()

        return store, cleanup
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


async def measure(ctx: ScenarioContext, store: Any) -> dict[str, Any]:
    from chatd.store import NewMessage, Room, RoomKind  # noqa: PLC0415 - chatd only needed here

    sz = ctx.sizes
    now_ms = int(time.time() * 1000)
    user = await store.create_user(f"s6bench{ctx.run_tag}", "not-a-real-hash")
    rooms = [f"s6{ctx.run_tag}-{i}" for i in range(sz.s6_rooms)]
    for rid in rooms:
        await store.ensure_room(Room(id=rid, name=rid, kind=RoomKind.PUBLIC,
                                     created_by=user.id, created_at=now_ms))
    text = "x" * sz.message_bytes
    append_lat = LatencyHistogram()
    counter = iter(range(sz.s6_messages))
    progress_every = max(1, sz.s6_messages // 10)

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
        "messages": sz.s6_messages,
        "persisted_msgs_per_s": round(sz.s6_messages / append_s, 1),
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
            res = await measure(ctx, store)
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
