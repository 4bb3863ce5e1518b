"""Time every call through a port (the store, the broker) at the port's boundary.

`timed(port, histogram)` returns a stand-in for the adapter whose public
coroutine methods observe their duration under the method's name; everything
else (attributes, plain methods, async iterators) is the adapter's own. The
wrappers are built once, when the app opens the port, so a call costs two
clock reads and one histogram observation, and no adapter method changes.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

from prometheus_client import Histogram

Port = TypeVar("Port")


class _Timed:
    """The adapter with its coroutine methods timed (see `timed`)."""

    def __init__(self, target: object, histogram: Histogram) -> None:
        self._target = target
        for name in dir(type(target)):
            # Looked up on the class, so no property runs here.
            if not name.startswith("_") and inspect.iscoroutinefunction(
                inspect.getattr_static(type(target), name)
            ):
                setattr(self, name, _timed_call(getattr(target, name), histogram.labels(name)))

    def __getattr__(self, name: str) -> Any:
        # Only reached for what __init__ did not wrap.
        return getattr(self._target, name)

    def __repr__(self) -> str:
        return f"timed({self._target!r})"


def _timed_call(
    method: Callable[..., Awaitable[Any]], child: Histogram
) -> Callable[..., Awaitable[Any]]:
    observe = child.observe
    clock = time.perf_counter

    async def call(*args: Any, **kwargs: Any) -> Any:
        start = clock()
        try:
            return await method(*args, **kwargs)
        finally:
            observe(clock() - start)

    call.__name__ = method.__name__
    return call


def timed(port: Port, histogram: Histogram) -> Port:
    """`port` with each public coroutine method's latency observed in `histogram`."""
    return cast(Port, _Timed(port, histogram))
