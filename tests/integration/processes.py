"""Run chatd as a real process (`python -m chatd`), as a deployment would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.fixtures.app import TEST_REGISTER_LIMIT, TEST_SECRET
from tests.fixtures.ports import free_port


class ChatdProcess:
    """One chatd node on a free loopback port, with its log kept for failures."""

    def __init__(self, data_dir: Path, log_dir: Path, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "CHATD_DATA_DIR": str(data_dir),
            "CHATD_BCRYPT_ROUNDS": "4",
            "CHATD_SECRET_KEY": TEST_SECRET,
            # Tests sign up many users from 127.0.0.1; the limit's own tests set it.
            "CHATD_REGISTER_LIMIT": TEST_REGISTER_LIMIT,
            # No load balancer watches /readyz: a SIGTERM drain would only slow
            # every restart down (the drain's own tests set it).
            "CHATD_DRAIN_SECONDS": "0",
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        for name in ("MONGODB_URI", "REDIS_URL", "S3_BUCKET"):
            if name not in env:
                self.env.pop(name, None)
        self.log_path = log_dir / f"chatd-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20.0) -> ChatdProcess:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "chatd", "--host", "127.0.0.1", "--port", str(self.port)],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"chatd exited with {self.proc.returncode}: {self.log()}")
            if self.get("/healthz")[0] == 200:
                return self
            time.sleep(0.05)
        raise TimeoutError(f"chatd did not answer /healthz: {self.log()}")

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=2) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()
        except OSError:
            return 0, b""

    def terminate(self, timeout: float = 15.0) -> int:
        """SIGTERM and wait: the graceful path."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        """SIGKILL: a crash, nothing gets to clean up."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def stop_quietly(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def log(self) -> str:
        try:
            return self.log_path.read_text()[-4000:]
        except OSError:
            return ""
