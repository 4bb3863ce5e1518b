#!/usr/bin/env python3
"""Write requirements.txt from pyproject.toml's dependencies, for PaaS buildpacks.

Buildpacks (Heroku, Render, Railway's Nixpacks, Cloud Run's) install
`requirements.txt`; pyproject.toml stays the one place dependencies are
declared. The file lists them as declared, then `.`: chatd itself must be
installed (not just on the path) for its `chatd` command and for the entry
points its frame handlers are found through.

    python3 scripts/requirements.py           # rewrite requirements.txt
    python3 scripts/requirements.py --check   # exit 1 if it is out of date

tests/unit/test_requirements.py runs the check.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEADER = (
    "# Generated from pyproject.toml by scripts/requirements.py: do not edit.\n"
    "# For PaaS buildpacks (docs/deploy/paas.md); the last line installs chatd itself.\n"
)


def render(pyproject: Path) -> str:
    dependencies = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    return HEADER + "".join(f"{dependency}\n" for dependency in dependencies) + ".\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only say whether it is current")
    parser.add_argument("--pyproject", type=Path, default=ROOT / "pyproject.toml")
    parser.add_argument("--output", type=Path, default=ROOT / "requirements.txt")
    args = parser.parse_args(argv)
    wanted = render(args.pyproject)
    if args.check:
        current = args.output.read_text() if args.output.exists() else ""
        if current != wanted:
            print(
                f"{args.output.name} is out of date with {args.pyproject.name}: "
                "run python3 scripts/requirements.py",
                file=sys.stderr,
            )
            return 1
        return 0
    args.output.write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
