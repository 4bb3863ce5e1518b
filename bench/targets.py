"""The servers under test and how to run them on loopback.

- chatd-embedded: `python -m chatd` with only CHATD_DATA_DIR (SQLite, in-process broker).
- chatd-redis: the same plus REDIS_URL, so several nodes share one broker and store.
- socketio: bench/peer_socketio.py with AsyncRedisManager on the same redis-server.

A target owns a data directory for the whole run (so chatd's user pool is
registered once) and starts fresh nodes for each scenario, so every scenario's
RSS and CPU baselines belong to that scenario alone.
"""

from __future__ import annotations

import abc
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.procs import ManagedProcess, StartError, Usage, redis_flush
from bench.sysutil import free_port
from bench.userpool import ChatdUserPool, minted_pool

#: Variables that would switch chatd onto backends this run did not ask for.
_BACKEND_VARS = ("MONGODB_URI", "REDIS_URL", "S3_BUCKET", "S3_ENDPOINT_URL",
                 "CHATD_DATA_DIR", "CHATD_SECRET_KEY", "PORT")

#: Environment every chatd node gets (documented in bench/README.md).
CHATD_BCRYPT_ROUNDS = "4"
CHATD_MESSAGE_RATE = "1000"
#: Every benchmark user signs up and connects from 127.0.0.1: the per-address
#: abuse limits (20 sign-ups an hour, 1,000 sockets) would refuse the load itself.
CHATD_REGISTER_LIMIT = "10000000"
CHATD_SOCKETS_PER_ADDRESS = "10000000"


@dataclass(slots=True)
class RunEnv:
    """What every target needs from the run."""

    workdir: Path
    #: This checkout (on PYTHONPATH for the peer, which lives in bench/).
    repo_root: Path
    #: Where `python -m chatd` is imported from: this checkout by default, or another
    #: one to compare two versions of chatd with the same harness.
    chatd_path: Path
    python: str
    redis_url: str
    secret: str


class Target(abc.ABC):
    name: str
    wire: str
    multi_node: bool
    #: Scenarios this target cannot take part in, with the reason.
    unsupported: dict[int, str]

    def __init__(self, env: RunEnv) -> None:
        self.env = env
        self.dir = env.workdir / self.name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.nodes: list[ManagedProcess] = []
        self.ports: list[int] = []
        self.seq_mode = "memory"

    @abc.abstractmethod
    def node_argv_env(self, port: int) -> tuple[list[str], dict[str, str]]: ...

    @abc.abstractmethod
    async def tokens(self, count: int, scope: str) -> tuple[list[str], dict[str, object]]:
        """`count` valid tokens for distinct users of `scope` (one scenario run), and
        how they were obtained."""

    def base_env(self, source: Path) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _BACKEND_VARS}
        # Run from source: the checkout first on the path, so the bench works on a tree.
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(source), os.environ.get("PYTHONPATH", "")) if p)
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def url(self, i: int = 0) -> str:
        return f"http://127.0.0.1:{self.ports[i]}"

    def ws_urls(self) -> list[str]:
        return [f"ws://127.0.0.1:{p}" for p in self.ports]

    async def start(self, nodes: int = 1, *, seq_mode: str = "memory") -> None:
        if nodes > 1 and not self.multi_node:
            raise StartError(f"{self.name} cannot run {nodes} nodes")
        self.seq_mode = seq_mode
        await redis_flush(self.env.redis_url)
        self.ports = [free_port() for _ in range(nodes)]
        self.nodes = []
        try:
            for i, port in enumerate(self.ports):
                argv, env = self.node_argv_env(port)
                proc = ManagedProcess(
                    f"{self.name} node {i}", argv, env=env, cwd=self.dir / f"node{i}",
                    log_path=self.dir / f"node{i}.log", health_url=f"{self.url(i)}/healthz")
                self.nodes.append(proc)
                await proc.start()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        for proc in self.nodes:
            await proc.stop()

    async def restart_node(self, i: int) -> dict[str, float]:
        """SIGTERM node i, start it again on the same port; wall-clock marks in ns."""
        proc = self.nodes[i]
        t_kill = time.time_ns()
        code = await proc.stop()
        t_down = time.time_ns()
        await proc.start()
        t_up = time.time_ns()
        return {"t_kill_ns": t_kill, "t_down_ns": t_down, "t_up_ns": t_up,
                "exit_code": -1 if code is None else code}

    def usage(self) -> Usage:
        parts = [p.usage() for p in self.nodes]
        return Usage(sum(u.cpu_s for u in parts), sum(u.rss_bytes for u in parts))


class ChatdTarget(Target):
    wire = "chatd"

    def __init__(self, env: RunEnv, *, redis: bool) -> None:
        self.name = "chatd-redis" if redis else "chatd-embedded"
        self.multi_node = redis
        self.redis = redis
        self.unsupported = {} if redis else {
            2: "needs two nodes sharing a broker; the embedded broker is in-process"}
        super().__init__(env)
        self.pools: dict[str, ChatdUserPool] = {}

    def node_argv_env(self, port: int) -> tuple[list[str], dict[str, str]]:
        env = self.base_env(self.env.chatd_path)
        env["CHATD_DATA_DIR"] = str(self.dir / "data")
        # Set in both modes so tokens stay valid across node restarts and nodes.
        env["CHATD_SECRET_KEY"] = self.env.secret
        if self.redis:
            env["REDIS_URL"] = self.env.redis_url
        # Registration is bcrypt-slow on purpose; no scenario measures it, so the
        # pool registers at the cheapest cost chatd accepts.
        env["CHATD_BCRYPT_ROUNDS"] = CHATD_BCRYPT_ROUNDS
        # The per-user message limit (5/s) is a product feature, not a bottleneck
        # to benchmark: raised so retries and bursts in the ramps are never refused.
        env["CHATD_MESSAGE_RATE"] = CHATD_MESSAGE_RATE
        env["CHATD_REGISTER_LIMIT"] = CHATD_REGISTER_LIMIT
        env["CHATD_SOCKETS_PER_ADDRESS"] = CHATD_SOCKETS_PER_ADDRESS
        # No load balancer polls /readyz here: the SIGTERM drain would only add
        # its seconds to every restart the scenarios time.
        env["CHATD_DRAIN_SECONDS"] = "0"
        argv = [self.env.python, "-m", "chatd", "--host", "127.0.0.1", "--port", str(port)]
        return argv, env

    async def start(self, nodes: int = 1, *, seq_mode: str = "memory") -> None:
        try:
            await super().start(nodes, seq_mode=seq_mode)
        except StartError as exc:
            raise StartError(
                f"chatd target {self.name!r} could not start "
                f"(`{self.env.python} -m chatd` with PYTHONPATH={self.env.chatd_path}). "
                f"Until chatd's server exists this is expected.\n{exc}") from exc

    async def tokens(self, count: int, scope: str) -> tuple[list[str], dict[str, object]]:
        # Users of their own per scenario run: a user's rooms are the user's, so a
        # user left over from an earlier scenario would bring its rooms (and their
        # traffic and presence) into this one.
        pool = self.pools.get(scope)
        if pool is None:
            pool = self.pools[scope] = ChatdUserPool(
                "", self.dir / f"users-{scope}.json", name_prefix=f"b{scope}-")
        pool.base_url = self.url(0)
        info = await pool.ensure(count)
        return pool.tokens(count), {"source": "registered", **info}


class SocketIOTarget(Target):
    name = "socketio"
    wire = "socketio"
    multi_node = True

    def __init__(self, env: RunEnv) -> None:
        self.unsupported = {}
        super().__init__(env)

    def node_argv_env(self, port: int) -> tuple[list[str], dict[str, str]]:
        # The peer is part of the bench: it runs on the bench's own interpreter.
        argv = [sys.executable, "-m", "bench.peer_socketio", "--host", "127.0.0.1",
                "--port", str(port), "--redis-url", self.env.redis_url,
                "--seq", self.seq_mode]
        env = self.base_env(self.env.repo_root)
        env["CHATD_SECRET_KEY"] = self.env.secret  # read by the peer; not on argv (ps)
        return argv, env

    async def tokens(self, count: int, scope: str) -> tuple[list[str], dict[str, object]]:
        started = time.monotonic()
        tokens = minted_pool(self.env.secret, count, prefix=f"peer-{scope}")
        return tokens, {"source": "minted HS256 (peer has no user store)", "users": count,
                        "seconds": round(time.monotonic() - started, 3)}


TARGET_NAMES = ("chatd-redis", "chatd-embedded", "socketio")


def make_target(name: str, env: RunEnv) -> Target:
    if name == "chatd-redis":
        return ChatdTarget(env, redis=True)
    if name == "chatd-embedded":
        return ChatdTarget(env, redis=False)
    if name == "socketio":
        return SocketIOTarget(env)
    raise ValueError(f"unknown target {name!r}; choose from {', '.join(TARGET_NAMES)}")


def default_python() -> str:
    return sys.executable
