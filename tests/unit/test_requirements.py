"""requirements.txt (for PaaS buildpacks) says exactly what pyproject.toml does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "requirements.py"


def check(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--check", *args], capture_output=True, text=True, check=False
    )


def test_requirements_txt_matches_pyproject() -> None:
    result = check()
    assert result.returncode == 0, result.stderr


def test_the_check_fails_when_pyproject_gains_a_dependency(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        (ROOT / "pyproject.toml")
        .read_text()
        .replace('dependencies = [\n', 'dependencies = [\n    "new-library>=1.0",\n', 1)
    )
    result = check("--pyproject", str(pyproject), "--output", str(ROOT / "requirements.txt"))
    assert result.returncode == 1
    assert "run python3 scripts/requirements.py" in result.stderr


def test_chatd_itself_is_installed_last() -> None:
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    assert lines[-1] == "."
