"""The MongoDB store's schema: its indexes and its versioned migrations.

Run by `chatd migrate` (the release step) and by every node as it opens the
store, so a deployment without a release step still works:

1. read the version from one document (`schema_version`, `_id` "chatd"); a
   database migrated by a newer chatd is refused (`SchemaTooNew`) untouched;
2. run the numbered steps past that version, in order, recording each;
3. create the indexes the documents declare that the database lacks.

Indexes are declared on the Beanie documents (their one source) and created
only when missing: a node restarting against a populated database builds
nothing. Existing indexes are listed first and matched by name; a declared
index whose name exists with other keys or options is not touched here (the
server would refuse to re-create it) and must be dropped by hand.

The steps are what indexes cannot express: rewrites of stored documents. A
released step is never edited, only followed by new ones, and every step is
idempotent, since two nodes starting at once may both run it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any, Final

from beanie import Document
from pymongo import IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from chatd.store.schema import Migration, SchemaTooNew
from chatd.util.clock import new_id

logger = logging.getLogger(__name__)

#: The collection holding the schema version, and that document's `_id`.
SCHEMA_COLLECTION: Final = "schema_version"
SCHEMA_DOCUMENT_ID: Final = "chatd"
#: Facts about the store as a whole, one document each; the epoch's `_id`.
META_COLLECTION: Final = "store_meta"
EPOCH_DOCUMENT_ID: Final = "epoch"

Database = AsyncDatabase[dict[str, Any]]
Step = Callable[[Database], Awaitable[None]]


def expiry_date(epoch_ms: int) -> datetime:
    """An epoch-milliseconds expiry as the BSON date a TTL index needs."""
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)


async def _date_token_expiries(database: Database) -> None:
    """1: give tokens stored before TTL indexes the date those expire them by.

    One document at a time rather than one pipeline update (`$toDate`): a
    release step runs once, and this way needs nothing past MongoDB's basics.
    """
    # (collection, milliseconds per unit of its `expires_at`)
    for name, unit_ms in (("refresh_tokens", 1), ("revoked_access_tokens", 1000)):
        collection: AsyncCollection[dict[str, Any]] = database[name]
        undated = collection.find({"expires_on": {"$exists": False}}, projection={"expires_at": 1})
        async for doc in undated:
            await collection.update_one(
                {"_id": doc["_id"]},
                {"$set": {"expires_on": expiry_date(int(doc["expires_at"]) * unit_ms)}},
            )


async def _create_epoch(database: Database) -> None:
    """2: give the database its epoch (Store.epoch), unless a node already did."""
    # $setOnInsert: two nodes running this step at once keep the first's epoch.
    with suppress(DuplicateKeyError):
        await database[META_COLLECTION].update_one(
            {"_id": EPOCH_DOCUMENT_ID}, {"$setOnInsert": {"value": new_id()}}, upsert=True
        )


#: Migration N (1-based) brings the database to schema version N. Append new
#: steps; never edit a released one, since databases in the wild already ran it.
STEPS: Final[tuple[Step, ...]] = (_date_token_expiries, _create_epoch)

#: The version `migrate` brings every database to.
SCHEMA_VERSION: Final = len(STEPS)


async def migrate(database: Database, models: Sequence[type[Document]]) -> Migration:
    """Bring `database` to SCHEMA_VERSION and create its missing indexes.

    `models` must be bound to `database` (init_beanie) already.
    """
    where = f"mongo database {database.name}"
    versions: AsyncCollection[dict[str, Any]] = database[SCHEMA_COLLECTION]
    found = await _stored_version(versions)
    if found > SCHEMA_VERSION:
        raise SchemaTooNew(where, found, SCHEMA_VERSION)
    for number, step in enumerate(STEPS[found:], start=found + 1):
        await step(database)
        await _record_version(versions, number)
        logger.info("%s migrated to schema version %d", where, number)
    created = await create_missing_indexes(models)
    if created:
        logger.info("%s: created indexes %s", where, ", ".join(created))
    return Migration(where, found, SCHEMA_VERSION, created)


async def _stored_version(versions: AsyncCollection[dict[str, Any]]) -> int:
    doc = await versions.find_one({"_id": SCHEMA_DOCUMENT_ID})
    # No document: a new database, or one of a chatd from before versions.
    return 0 if doc is None else int(doc["version"])


async def _record_version(versions: AsyncCollection[dict[str, Any]], number: int) -> None:
    # $max: a node that ran an older step late never moves the version back.
    update = {"$max": {"version": number}}
    try:
        await versions.update_one({"_id": SCHEMA_DOCUMENT_ID}, update, upsert=True)
    except DuplicateKeyError:
        # Two first upserts raced; the other inserted the document.
        await versions.update_one({"_id": SCHEMA_DOCUMENT_ID}, update)


async def create_missing_indexes(models: Sequence[type[Document]]) -> tuple[str, ...]:
    """Create each declared index whose name its collection does not list.

    Returns them as "collection.index", for the operator.
    """
    created: list[str] = []
    for model in models:
        declared: list[IndexModel] = [field.index for field in model.get_settings().indexes]
        if not declared:
            continue
        collection: AsyncCollection[dict[str, Any]] = model.get_pymongo_collection()
        existing = {info["name"] async for info in await collection.list_indexes()}
        missing = [index for index in declared if index.document["name"] not in existing]
        if missing:
            names = await collection.create_indexes(missing)
            created += [f"{collection.name}.{name}" for name in names]
    return tuple(created)
