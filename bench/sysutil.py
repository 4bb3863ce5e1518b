"""Small facts about this machine and process limits."""

from __future__ import annotations

import os
import platform
import resource
import socket
import subprocess
from importlib import metadata
from typing import Any

import psutil

#: Enough descriptors for 20k server connections plus the process's own files.
WANTED_NOFILE = 65536


def raise_nofile_limit(wanted: int = WANTED_NOFILE) -> int:
    """Raise RLIMIT_NOFILE as far as allowed; children started later inherit it."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    for target_hard in (max(hard, wanted), hard):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, target_hard), target_hard))
            break
        except (ValueError, OSError):
            continue
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _redis_version() -> str | None:
    try:
        out = subprocess.run(["redis-server", "--version"], capture_output=True, text=True,
                             timeout=5, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return out.strip() or None


def machine_facts() -> dict[str, Any]:
    vm = psutil.virtual_memory()
    return {
        "hostname": platform.node(),
        "cpu_model": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "memory_gib": round(vm.total / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
        "nofile_limit": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
        "redis_server": _redis_version(),
        "packages": {name: _version(name) for name in (
            "aiohttp", "orjson", "uvloop", "python-socketio", "python-engineio", "redis",
            "hiredis", "PyJWT", "hdrhistogram", "psutil", "chatd")},
    }
