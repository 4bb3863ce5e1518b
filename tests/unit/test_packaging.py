"""The wheel ships every package and every web-client directory.

pyproject.toml lists packages by hand (templates/ and static/ are mapped into
the package from the top level), so a new directory that is not listed would
be left out of installs - or, for a web-client directory, make setuptools print
a page of warnings on every install.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _listed_packages() -> set[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return set(config["tool"]["setuptools"]["packages"])


def _dotted(base: str, root: Path, directory: Path) -> str:
    return ".".join([base, *directory.relative_to(root).parts])


def test_every_python_package_and_data_directory_is_listed():
    package_root = ROOT / "chatd"
    packages = {
        _dotted("chatd", package_root, path.parent)
        for path in package_root.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert packages - _listed_packages() == set()


def test_every_web_client_directory_is_listed():
    directories = set()
    for name in ("static", "templates"):
        root = ROOT / name
        directories |= {
            _dotted(f"chatd.{name}", root, d)
            for d in [root, *root.rglob("*")]
            if d.is_dir() and "__pycache__" not in d.parts
        }
    assert directories - _listed_packages() == set()
