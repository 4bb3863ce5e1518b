"""The Procfile as a PaaS runs it, through honcho: the release phase, then the web process.

A platform runs `release:` once per deploy with the app's environment and
starts the new `web:` processes only if it exits 0; `web:` gets `$PORT`. This
runs the repository's own Procfile that way, on a fresh data dir, with the
environment a platform would give (no `.env`, every setting from variables).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.fixtures.app import TEST_SECRET
from tests.fixtures.http import answers_200
from tests.fixtures.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
PROCFILE = ROOT / "Procfile"

pytestmark = pytest.mark.slow


def _honcho() -> str:
    honcho = shutil.which("honcho", path=str(Path(sys.executable).parent))
    if honcho is None:
        pytest.fail("honcho is not installed (it is in the test extras: pip install -e '.[test]')")
    return honcho


def _platform_env(data_dir: Path) -> dict[str, str]:
    env = {
        **os.environ,
        # The console script of the environment under test comes first on PATH.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "CHATD_DATA_DIR": str(data_dir),
        "CHATD_SECRET_KEY": TEST_SECRET,
        "CHATD_BCRYPT_ROUNDS": "4",
        "PYTHONUNBUFFERED": "1",
    }
    for name in ("MONGODB_URI", "REDIS_URL", "S3_BUCKET", "PORT"):
        env.pop(name, None)
    return env


def _post(url: str, body: dict[str, str]) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.status, json.loads(response.read())


def test_the_release_phase_migrates_then_the_web_process_serves(tmp_path: Path) -> None:
    honcho, env = _honcho(), _platform_env(tmp_path / "data")
    processes = {line.split(":", 1)[0] for line in PROCFILE.read_text().splitlines() if line}
    assert {"release", "web"} <= processes

    honcho_start = [honcho, "-f", str(PROCFILE), "-d", str(tmp_path), "-e", "/dev/null", "start"]
    release = subprocess.run(
        [*honcho_start, "release"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert release.returncode == 0, release.stdout + release.stderr
    assert "schema version" in release.stdout, release.stdout
    assert (tmp_path / "data" / "chatd.db").is_file()

    port = free_port()
    web = subprocess.Popen(
        [*honcho_start, "-p", str(port), "web"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        assert answers_200(base + "/readyz", web, timeout=30), "the web process never became ready"
        status, body = _post(
            base + "/api/auth/register", {"username": "paas_user", "password": "a long password"}
        )
        assert status == 201 and body["user"]["username"] == "paas_user"  # type: ignore[index]
    finally:
        os.killpg(web.pid, signal.SIGTERM)
        output, _ = web.communicate(timeout=30)
    # The platform stops a dyno with SIGTERM: chatd goes away cleanly.
    assert "Traceback" not in output, output
