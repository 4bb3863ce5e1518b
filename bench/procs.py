"""Processes the bench starts and owns: servers under test and redis-server.

Each one logs to a file in the run's work directory, is health-checked before use,
and is stopped (SIGTERM, then SIGKILL) in a `finally`. Children also get
PR_SET_PDEATHSIG so a bench killed outright does not leave servers behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import psutil
import redis.asyncio as aioredis

PR_SET_PDEATHSIG = 1


class StartError(Exception):
    """A process did not come up; the message says why and quotes its log."""


def _die_with_parent() -> None:
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass(frozen=True, slots=True)
class Usage:
    cpu_s: float
    rss_bytes: int


def usage_of(pid: int) -> Usage:
    """CPU seconds (user+system) and RSS of a process and its live descendants."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return Usage(0.0, 0)
    cpu, rss = 0.0, 0
    for p in procs:
        try:
            t = p.cpu_times()
            cpu += t.user + t.system
            rss += p.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return Usage(cpu, rss)


class ManagedProcess:
    def __init__(self, name: str, argv: Sequence[str], *, env: dict[str, str], cwd: Path,
                 log_path: Path, health_url: str | None = None) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = env
        self.cwd = cwd
        self.log_path = log_path
        self.health_url = health_url
        self.proc: subprocess.Popen[bytes] | None = None
        #: Accumulated CPU seconds of earlier incarnations (a restarted node keeps its total).
        self.cpu_before_restart = 0.0

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 25) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(empty log)"

    def spawn(self) -> None:
        self.cwd.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        try:
            self.proc = subprocess.Popen(
                self.argv, env=self.env, cwd=self.cwd, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent,  # noqa: PLW1509
            )
        finally:
            log.close()

    async def start(self, timeout_s: float = 30.0) -> None:
        self.spawn()
        if self.health_url is not None:
            await self.wait_healthy(timeout_s)

    async def wait_healthy(self, timeout_s: float) -> None:
        assert self.health_url is not None
        deadline = time.monotonic() + timeout_s
        last_error = "no answer"
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if not self.alive():
                    code = self.proc.returncode if self.proc else None
                    raise StartError(
                        f"{self.name} exited with code {code} before {self.health_url} "
                        f"answered.\n--- last lines of {self.log_path} ---\n{self.log_tail()}")
                try:
                    async with session.get(self.health_url,
                                           timeout=aiohttp.ClientTimeout(total=2)) as resp:
                        if resp.status == 200:
                            return
                        last_error = f"HTTP {resp.status}"
                except (aiohttp.ClientError, TimeoutError) as exc:
                    last_error = type(exc).__name__
                await asyncio.sleep(0.1)
        await self.stop()
        raise StartError(
            f"{self.name} did not answer {self.health_url} with 200 within {timeout_s:.0f}s "
            f"(last: {last_error}).\n--- last lines of {self.log_path} ---\n{self.log_tail()}")

    def usage(self) -> Usage:
        if not self.alive():
            return Usage(self.cpu_before_restart, 0)
        u = usage_of(self.pid)
        return Usage(u.cpu_s + self.cpu_before_restart, u.rss_bytes)

    async def stop(self, timeout_s: float = 15.0) -> int | None:
        """SIGTERM (the contract's graceful stop), SIGKILL after `timeout_s`."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.cpu_before_restart = self.usage().cpu_s
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(self.proc.wait, timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                await asyncio.to_thread(self.proc.wait, 5)
        return self.proc.returncode


async def start_redis(workdir: Path, port: int) -> ManagedProcess:
    """A throwaway redis-server on loopback that keeps nothing on disk."""
    proc = ManagedProcess(
        "redis-server",
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(workdir), "--maxclients", "50000"],
        env=dict(os.environ), cwd=workdir, log_path=workdir / "redis.log")
    proc.spawn()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if not proc.alive():
            raise StartError(f"redis-server exited early:\n{proc.log_tail()}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        await writer.wait_closed()
        return proc
    await proc.stop()
    raise StartError(f"redis-server did not listen on 127.0.0.1:{port}:\n{proc.log_tail()}")


async def redis_flush(url: str) -> None:
    client = aioredis.from_url(url)
    try:
        await client.flushall()
    finally:
        await client.aclose()
