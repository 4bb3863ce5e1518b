"""Settling the futures of a batch: every caller gets its own result or error.

Shared by the batchers that group concurrent callers' work into one round trip
(SQLite appends in one transaction, Redis commands in one pipeline).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any


def settle(futures: Iterable[asyncio.Future[Any]], results: Iterable[Any]) -> None:
    """Give each future its result, or raise the result in it if it is an Exception.

    Futures already done (their caller gave up) are skipped.
    """
    for future, result in zip(futures, results, strict=True):
        if future.done():
            continue
        if isinstance(result, Exception):
            future.set_exception(result)
        else:
            future.set_result(result)


def fail_all(futures: Iterable[asyncio.Future[Any]], exc: Exception) -> None:
    """The whole batch failed: raise `exc` in every future not done yet."""
    for future in futures:
        if not future.done():
            future.set_exception(exc)
