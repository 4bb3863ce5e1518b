"""Where the web client's templates/ and static/ live, installed or from a checkout.

The product's layout keeps them at the top level of the repository; the wheel
maps them into the package as `chatd.templates` and `chatd.static`.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

_CHECKOUT_ROOT = Path(__file__).resolve().parents[2]


def asset_dir(name: str) -> Path:
    """The directory of `templates` or `static`."""
    spec = importlib.util.find_spec(f"chatd.{name}")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            path = Path(location)
            if path.is_dir():
                return path
    return _CHECKOUT_ROOT / name
