"""`chatd migrate`, the release step, and a node's refusal of a store of a newer
chatd, as real processes on SQLite and on MongoDB (nx-27017)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pymongo import MongoClient

from chatd.store.mongo_schema import SCHEMA_COLLECTION, SCHEMA_DOCUMENT_ID
from chatd.store.mongo_schema import SCHEMA_VERSION as MONGO_SCHEMA_VERSION
from chatd.store.sqlite import SCHEMA_VERSION as SQLITE_SCHEMA_VERSION
from tests.fixtures.mongo import fresh_db_name
from tests.fixtures.ports import free_port
from tests.integration.processes import ChatdProcess

pytestmark = pytest.mark.slow

#: Well past pymongo's server selection timeout (5 s) for an unreachable server.
RUN_TIMEOUT_SECONDS = 60


@pytest.fixture
def mongo_uri(nx_mongo_uri: str) -> Iterator[str]:
    """A fresh database on nx-27017, dropped afterwards."""
    name = fresh_db_name()
    yield f"{nx_mongo_uri.rstrip('/')}/{name}"
    client: MongoClient[dict[str, object]] = MongoClient(nx_mongo_uri)
    client.drop_database(name)
    client.close()


def run_chatd(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`chatd <args>` as a process, with a test node's environment."""
    node = ChatdProcess(tmp_path / "data", tmp_path, **env)
    return subprocess.run(
        [sys.executable, "-m", "chatd", *args],
        check=False,
        env=node.env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
    )


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


def test_migrate_on_sqlite_migrates_a_new_store_then_finds_it_current(tmp_path):
    first = run_chatd(tmp_path, "migrate")
    assert first.returncode == 0, first.stderr
    assert f"from schema version 0 to {SQLITE_SCHEMA_VERSION}" in one_line(first.stdout)
    assert first.stderr == ""

    # The console script, exactly as the Procfile's release phase runs it.
    script = Path(sys.executable).with_name("chatd")
    node = ChatdProcess(tmp_path / "data", tmp_path)
    again = subprocess.run(
        [str(script), "migrate"],
        check=False,
        env=node.env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
    )
    assert again.returncode == 0, again.stderr
    assert f"is current at schema version {SQLITE_SCHEMA_VERSION}" in one_line(again.stdout)


def test_migrate_on_mongodb_migrates_a_new_database_then_finds_it_current(tmp_path, mongo_uri):
    first = run_chatd(tmp_path, "migrate", MONGODB_URI=mongo_uri)
    assert first.returncode == 0, first.stderr
    line = one_line(first.stdout)
    assert f"from schema version 0 to {MONGO_SCHEMA_VERSION}" in line
    assert "messages.text_search" in line

    again = run_chatd(tmp_path, "migrate", MONGODB_URI=mongo_uri)
    assert again.returncode == 0, again.stderr
    assert f"is current at schema version {MONGO_SCHEMA_VERSION}" in one_line(again.stdout)


def test_migrate_against_an_unreachable_mongodb_fails_in_one_line(tmp_path):
    result = run_chatd(tmp_path, "migrate", MONGODB_URI=f"mongodb://127.0.0.1:{free_port()}/x")
    assert result.returncode == 2
    assert one_line(result.stderr).startswith("chatd migrate: failed: ")
    assert "Traceback" not in result.stderr and result.stdout == ""


def _refused(result: subprocess.CompletedProcess[str], found: int, known: int) -> None:
    assert result.returncode == 2, result.stderr
    line = one_line(result.stderr)
    assert f"schema version {found}, newer than this chatd knows ({known})" in line


def test_a_node_refuses_a_sqlite_store_of_a_newer_chatd(tmp_path):
    assert run_chatd(tmp_path, "migrate").returncode == 0
    with sqlite3.connect(tmp_path / "data" / "chatd.db") as db:
        db.execute("PRAGMA user_version = 99")

    _refused(run_chatd(tmp_path, "--port", str(free_port())), 99, SQLITE_SCHEMA_VERSION)
    _refused(run_chatd(tmp_path, "migrate"), 99, SQLITE_SCHEMA_VERSION)


def test_a_node_refuses_a_mongodb_store_of_a_newer_chatd(tmp_path, mongo_uri):
    assert run_chatd(tmp_path, "migrate", MONGODB_URI=mongo_uri).returncode == 0
    client: MongoClient[dict[str, object]] = MongoClient(mongo_uri)
    try:
        client.get_default_database()[SCHEMA_COLLECTION].update_one(
            {"_id": SCHEMA_DOCUMENT_ID}, {"$set": {"version": 99}}
        )
    finally:
        client.close()

    _refused(
        run_chatd(tmp_path, "--port", str(free_port()), MONGODB_URI=mongo_uri),
        99,
        MONGO_SCHEMA_VERSION,
    )
