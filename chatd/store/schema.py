"""Schema versions, shared by both Store adapters: what a migration did, and the
refusal to touch a store written by a newer chatd.

SQLite keeps its version in `PRAGMA user_version` (chatd/store/sqlite.py),
MongoDB in one document (chatd/store/mongo_schema.py). Both move forward only:
a chatd never downgrades a store, and never runs against one it cannot read.
"""

from __future__ import annotations

from dataclasses import dataclass

from chatd.store.base import StoreError


class SchemaTooNew(StoreError):
    """The store was migrated by a newer chatd than this one."""

    def __init__(self, where: str, found: int, known: int) -> None:
        super().__init__(
            f"{where} has schema version {found}, newer than this chatd knows ({known});"
            " upgrade chatd"
        )
        self.found = found
        self.known = known


@dataclass(frozen=True, slots=True)
class Migration:
    """What opening (migrating) a store did: from which version to which."""

    #: The store, as an operator would name it ("sqlite store data/chatd.db").
    where: str
    found: int
    current: int
    #: Names of the indexes created (MongoDB only; SQLite's are in its steps).
    indexes_created: tuple[str, ...] = ()

    def summary(self) -> str:
        """One line for `chatd migrate`: what changed, or that nothing had to."""
        created = (
            f", created indexes {', '.join(self.indexes_created)}" if self.indexes_created else ""
        )
        if self.found == self.current:
            return f"{self.where} is current at schema version {self.current}{created}"
        return f"{self.where} migrated from schema version {self.found} to {self.current}{created}"
