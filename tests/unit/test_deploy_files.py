"""docs/deploy/: what can be checked without Docker or a running systemd.

The compose file parses, gives chatd only variables chatd reads (a typo there
would silently leave a default in force) and matches nginx.conf's upstreams;
the systemd unit passes `systemd-analyze verify`. nginx.conf itself is run by
tests/e2e/test_nginx.py.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "docs" / "deploy"


def compose() -> dict[str, Any]:
    parsed = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    assert isinstance(parsed, dict)
    return parsed


def variables_chatd_reads() -> set[str]:
    """Every variable name chatd/settings.py mentions (it reads the environment alone)."""
    source = (ROOT / "chatd" / "settings.py").read_text()
    return set(re.findall(r'"([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+|PORT)"', source))


def documented_variables() -> set[str]:
    readme = (ROOT / "README.md").read_text()
    return set(re.findall(r"`([A-Z][A-Z0-9_]+)`", readme))


def test_compose_has_the_whole_layout() -> None:
    services = compose()["services"]
    assert set(services) == {"chatd1", "chatd2", "nginx", "redis", "mongo", "minio"}
    # nginx.conf's upstreams are these services, on the port the image listens on.
    nginx_conf = (DEPLOY / "nginx.conf").read_text()
    assert re.findall(r"^\s*server (\S+) ", nginx_conf, re.MULTILINE) == [
        "chatd1:8080",
        "chatd2:8080",
    ]
    assert "PORT=8080" in (DEPLOY / "Dockerfile").read_text()
    mount = services["nginx"]["volumes"][0].split(":")[0]
    assert (DEPLOY / mount).resolve() == DEPLOY / "nginx.conf"


@pytest.mark.parametrize("node", ["chatd1", "chatd2"])
def test_compose_gives_chatd_only_variables_it_reads_and_documents(node: str) -> None:
    environment = compose()["services"][node]["environment"]
    names = set(environment)
    assert {"CHATD_SECRET_KEY", "MONGODB_URI", "REDIS_URL", "S3_BUCKET"} <= names
    assert names - variables_chatd_reads() == set()
    assert names - documented_variables() == set()


def test_dockerfile_copies_what_exists() -> None:
    for line in (DEPLOY / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), line


def test_systemd_unit_verifies(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    chatd = Path(sys.executable).parent / "chatd"  # the test environment's own
    assert chatd.exists(), "chatd is not installed in this environment"
    unit = (DEPLOY / "chatd.service").read_text()
    assert unit.count("/opt/chatd/bin/chatd") == 1
    # The only change: ExecStart must name an executable that exists here.
    (tmp_path / "chatd.service").write_text(unit.replace("/opt/chatd/bin/chatd", str(chatd)))
    result = subprocess.run(
        [analyze, "verify", str(tmp_path / "chatd.service")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    # Unknown keys and bad values are only warnings (exit 0): none may appear.
    assert "chatd.service" not in result.stdout + result.stderr, result.stdout + result.stderr


def test_systemd_unit_sets_only_variables_chatd_reads() -> None:
    unit = (DEPLOY / "chatd.service").read_text()
    names = set(re.findall(r"^Environment=([A-Z_]+)=", unit, re.MULTILINE))
    names |= set(re.findall(r"^#\s+([A-Z][A-Z0-9_]+)=", unit, re.MULTILINE))
    assert names and names - variables_chatd_reads() == set()
