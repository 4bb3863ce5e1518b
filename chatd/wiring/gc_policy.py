"""How a chatd process uses Python's cyclic garbage collector.

Reference counting frees almost everything chatd makes; the cyclic collector is
there for the rest. Its full (generation 2) pass walks every tracked object with
the event loop stopped, and with thousands of sockets that is tens to hundreds of
milliseconds. Three measured costs (benchmark scenarios 3 and 5) set this policy:

- Start-up's objects (modules, classes, the app) live as long as the process:
  frozen, so no later pass walks them. Full passes at 2,000 sockets had paused
  the loop for 40-110 ms a few times a minute, scenario 3's p99 with Redis.
- CPython runs a full pass once ten younger passes have run and the old
  generation has grown by a quarter since the last one. A heap that grows fast,
  5,000 clients reconnecting to a restarted node, got seven of them in its
  first seconds (24-228 ms each, ~0.7 s of the loop in all) and they found
  nothing to free. With FULL_PASS_EVERY a full pass waits for a hundred
  generation-1 passes (~700,000 net allocations of tracked objects at CPython's
  default thresholds); cycles among old objects wait that much longer for it.
- A node going away (SIGTERM) has no use for full passes over a heap it is
  about to drop: three of them (250-460 ms) ran during one 2 s shutdown with
  5,000 sockets. The heap is frozen when the shutdown starts.

Only the process's owner applies this (`chatd.cli`): an embedder or a test that
builds the app in its own process keeps its own collector settings.
"""

from __future__ import annotations

import gc

from aiohttp import web

#: Younger (generation 1) passes between full ones; CPython's default is 10.
FULL_PASS_EVERY = 100


def apply(app: web.Application) -> None:
    """Set the policy for this process; call once the app is built, before it runs."""
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_PASS_EVERY)
    # First: the heap is frozen before the sockets close and their objects go.
    app.on_shutdown.insert(0, _freeze_on_shutdown)
    _freeze_startup_objects()


def _freeze_startup_objects() -> None:
    """Keep what exists now out of every later collection (see the module's notes)."""
    gc.collect()
    gc.freeze()


async def _freeze_on_shutdown(app: web.Application) -> None:
    # Freeze, not disable: cycles made during the shutdown itself are still
    # young and still collected.
    gc.freeze()
