"""The process's garbage-collector policy: few full passes while the heap grows, a frozen heap at shutdown."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web

from chatd.wiring import gc_policy


@pytest.fixture
def collector() -> Iterator[None]:
    """Give the test process its own collector settings back afterwards."""
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def full_passes_while_the_heap_grows(new_objects: int) -> int:
    """Full collections CPython runs while `new_objects` containers are made and kept,
    as when thousands of sockets connect at once."""
    passes = 0

    def count(phase: str, info: dict[str, Any]) -> None:
        nonlocal passes
        if phase == "stop" and info["generation"] == 2:
            passes += 1

    gc.collect()  # every generation starts empty
    kept: list[list[int]] = []
    gc.callbacks.append(count)
    try:
        for _ in range(new_objects):
            kept.append([])
    finally:
        gc.callbacks.remove(count)
    return passes


def test_a_growing_heap_gets_at_most_one_full_pass_instead_of_several(collector):
    # Twice what the process holds already: growth by a quarter, CPython's trigger,
    # happens several times over.
    growth = max(500_000, 2 * len(gc.get_objects()))
    with_defaults = full_passes_while_the_heap_grows(growth)
    gc_policy.apply(web.Application())
    with_policy = full_passes_while_the_heap_grows(growth)
    assert with_defaults >= 2  # the measurement sees full passes at all
    assert with_policy <= 1


async def test_the_heap_is_frozen_when_the_shutdown_starts(collector, aiohttp_client):
    app = web.Application()
    gc_policy.apply(app)
    client = await aiohttp_client(app)
    frozen_at_start = gc.get_freeze_count()
    # Made after start-up, as a socket's objects are (lists are always tracked).
    sockets_objects = [[n] for n in range(1_000)]

    await client.close()  # runs the app's shutdown

    assert gc.get_freeze_count() >= frozen_at_start + len(sockets_objects)
