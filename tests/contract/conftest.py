"""Fixtures for the contract suites: every port's suite runs against every adapter."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from chatd.store.base import Store
from chatd.store.mongo import MongoStore
from chatd.store.sqlite import SqliteStore
from tests.fixtures.mongo import fresh_db_name, mongo_targets, mongo_uri_for

#: Store adapters under test; the Mongo ones run on every Mongo target of the run.
STORE_ADAPTERS = ["sqlite", *mongo_targets()]


@pytest.fixture(params=STORE_ADAPTERS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """A fresh, empty store of each adapter (its own file or its own database)."""
    if request.param == "sqlite":
        sqlite = await SqliteStore.open(tmp_path / "chatd.db")
        try:
            yield sqlite
        finally:
            await sqlite.close()
        return
    mongo = await MongoStore.open(mongo_uri_for(request, request.param), fresh_db_name())
    try:
        yield mongo
    finally:
        await mongo.database.client.drop_database(mongo.database.name)
        await mongo.close()
