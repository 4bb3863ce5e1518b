"""The Store contract: what every adapter (SQLite, MongoDB) must do alike.

The `store` fixture runs each test on a fresh store of every adapter: SQLite,
MongoDB's wire protocol on nx-27017, and a real MongoDB when MONGODB_URI is set.
Adapter-specific guarantees (SQLite migrations and multi-process safety, the
Mongo URI's database name) follow at the end.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import nullcontext
from datetime import UTC
from pathlib import Path

import pytest
from pymongo import AsyncMongoClient

from chatd.models import (
    Attachment,
    EventKind,
    Mention,
    NewMessage,
    ReactionCount,
    RefreshToken,
    Room,
    RoomKind,
    SearchQuery,
    Unread,
    User,
)
from chatd.settings import Settings
from chatd.store.base import Conflict, Store, StoreError
from chatd.store.factory import migrate_store, open_store
from chatd.store.mongo import DEFAULT_DB_NAME, DOCUMENT_MODELS, MongoStore
from chatd.store.mongo_schema import (
    SCHEMA_COLLECTION,
    SCHEMA_DOCUMENT_ID,
    create_missing_indexes,
    expiry_date,
)
from chatd.store.mongo_schema import SCHEMA_VERSION as MONGO_SCHEMA_VERSION
from chatd.store.schema import SchemaTooNew
from chatd.store.sqlite import SCHEMA_VERSION, SqliteStore
from chatd.store.token_purge import purging_tokens
from chatd.util.clock import new_id, now_ms
from tests.contract.conftest import STORE_ADAPTERS
from tests.fixtures.mongo import MONGO_NX, fresh_db_name, mongo_targets, mongo_uri_for

#: nx-27017's listIndexes leaves out text indexes and names the others its own
#: way, so "missing" indexes are misjudged there (never on a real MongoDB).
NX_LISTS_INDEXES_ITS_OWN_WAY = (
    "nx-27017: listIndexes omits text indexes and renames the others, so they look"
    " missing, and re-creating the text index on a non-empty collection fails with"
    " 'constraint failed'"
)


def xfail_on_nx(targets: list[str], reason: str) -> list[object]:
    """`targets` as parameters, the nx-27017 one expected to fail for `reason`."""
    return [
        pytest.param(
            target,
            marks=pytest.mark.xfail(strict=True, reason=reason) if target == MONGO_NX else (),
        )
        for target in targets
    ]


def a_room(room_id: str = "general", kind: RoomKind = RoomKind.PUBLIC, **fields: object) -> Room:
    values: dict[str, object] = {
        "id": room_id,
        "name": room_id.title(),
        "kind": kind,
        "created_by": None,
        "created_at": now_ms(),
    }
    values.update(fields)
    return Room(**values)  # type: ignore[arg-type]


def a_message(room_id: str, user: User, text: str = "hi", **fields: object) -> NewMessage:
    return NewMessage(
        room_id=room_id,
        user_id=user.id,
        username=user.username,
        text=text,
        **fields,  # type: ignore[arg-type]
    )


@pytest.fixture
async def alice(store: Store) -> User:
    return await store.create_user("Alice", "hash-a")


@pytest.fixture
async def bob(store: Store) -> User:
    return await store.create_user("bob", "hash-b")


@pytest.fixture
async def general(store: Store) -> Room:
    return await store.create_room(a_room("general"))


async def append_texts(store: Store, room_id: str, user: User, *texts: str) -> list[int]:
    seqs = []
    for text in texts:
        message, created = await store.append_message(a_message(room_id, user, text))
        assert created
        seqs.append(message.seq)
    return seqs


# -- lifecycle ---------------------------------------------------------------------


Opener = Callable[[], Awaitable[Store]]


@pytest.fixture(params=xfail_on_nx(STORE_ADAPTERS, NX_LISTS_INDEXES_ITS_OWN_WAY))
async def reopenable(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Opener]:
    """Opens the same store (one file, one database) of each adapter again and again."""
    opened: list[Store] = []
    if request.param == "sqlite":

        async def open_sqlite() -> Store:
            opened.append(await SqliteStore.open(tmp_path / "chatd.db"))
            return opened[-1]

        yield open_sqlite
    else:
        uri, name = mongo_uri_for(request, request.param), fresh_db_name()

        async def open_mongo() -> Store:
            opened.append(await MongoStore.open(uri, name))
            return opened[-1]

        yield open_mongo
        # A client of its own: opening a MongoStore may fail here (nx-27017).
        client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(uri)
        await client.drop_database(name)
        await client.close()
    for store in opened:
        await store.close()


async def test_a_restarted_node_reads_back_a_populated_store(reopenable: Opener) -> None:
    first = await reopenable()
    user = await first.create_user("Alice", "hash")
    await first.create_room(a_room("general"))
    written = [(await first.append_message(a_message("general", user, t)))[0] for t in "abc"]
    await first.close()

    again = await reopenable()
    assert await again.messages_after("general", 0, 10) == written
    assert await again.get_user_by_name("alice") == user
    nxt, _ = await again.append_message(a_message("general", user, "d"))
    assert nxt.seq == 4


async def test_check_passes_on_a_reachable_store(store: Store) -> None:
    await store.check()


# -- users -------------------------------------------------------------------------


async def test_created_user_can_be_read_back_by_id(store: Store) -> None:
    user = await store.create_user("Alice", "hash-a")

    assert user.username == "Alice"
    assert user.password_hash == "hash-a"
    assert user.id and user.created_at > 0
    assert await store.get_user(user.id) == user


async def test_user_is_found_by_name_in_any_letter_case_with_spelling_kept(
    store: Store, alice: User
) -> None:
    for spelling in ("Alice", "alice", "ALICE", "aLiCe"):
        assert await store.get_user_by_name(spelling) == alice
    found = await store.get_user_by_name("alice")
    assert found is not None and found.username == "Alice"


async def test_a_name_taken_in_another_letter_case_conflicts(store: Store, alice: User) -> None:
    with pytest.raises(Conflict):
        await store.create_user("ALICE", "other")
    with pytest.raises(Conflict):
        await store.create_user("Alice", "other")
    assert await store.get_user_by_name("alice") == alice


async def test_concurrent_sign_ups_for_one_name_make_one_user(store: Store) -> None:
    results = await asyncio.gather(
        *(store.create_user(name, "hash") for name in ("Carol", "carol", "CAROL", "Carol")),
        return_exceptions=True,
    )

    users = [r for r in results if isinstance(r, User)]
    assert len(users) == 1
    assert all(isinstance(r, Conflict) for r in results if r is not users[0])
    assert await store.get_user_by_name("carol") == users[0]


async def test_unknown_users_are_none(store: Store) -> None:
    assert await store.get_user(new_id()) is None
    assert await store.get_user_by_name("nobody") is None


async def test_set_password_hash_replaces_only_that_users_hash(
    store: Store, alice: User, bob: User
) -> None:
    assert alice.token_version == 0
    assert await store.set_password_hash(alice.id, "new-hash") == 1
    assert await store.set_password_hash(alice.id, "newer-hash") == 2

    updated = await store.get_user(alice.id)
    assert updated is not None and updated.password_hash == "newer-hash"
    assert updated.token_version == 2
    assert await store.get_user(bob.id) == bob


# -- refresh tokens ----------------------------------------------------------------


def a_refresh_token(family: str = "fam", user_id: str = "u1", **overrides: object) -> RefreshToken:
    fields: dict[str, object] = {
        "token_hash": new_id(),
        "family_id": family,
        "user_id": user_id,
        "created_at": 1,
        "expires_at": 10**13,
    }
    fields.update(overrides)
    return RefreshToken(**fields)  # type: ignore[arg-type]


async def test_a_refresh_token_is_used_exactly_once(store: Store) -> None:
    token = a_refresh_token()
    await store.add_refresh_token(token)
    assert await store.get_refresh_token(token.token_hash) == token

    used = await store.use_refresh_token(token.token_hash, now=5)
    assert used is not None and used.used_at == 5
    assert await store.use_refresh_token(token.token_hash, now=6) is None
    stored = await store.get_refresh_token(token.token_hash)
    assert stored is not None and stored.used_at == 5


async def test_racing_uses_of_one_refresh_token_have_one_winner(store: Store) -> None:
    token = a_refresh_token()
    await store.add_refresh_token(token)
    results = await asyncio.gather(
        *(store.use_refresh_token(token.token_hash, now=i) for i in range(10))
    )
    assert sum(r is not None for r in results) == 1


async def test_revoking_a_family_or_a_user_stops_their_tokens(store: Store) -> None:
    first, sibling = a_refresh_token("f1"), a_refresh_token("f1")
    other_family = a_refresh_token("f2")
    other_user = a_refresh_token("f3", user_id="u2")
    for token in (first, sibling, other_family, other_user):
        await store.add_refresh_token(token)

    await store.revoke_refresh_family("f1")
    assert await store.use_refresh_token(first.token_hash, now=1) is None
    assert await store.use_refresh_token(sibling.token_hash, now=1) is None
    revoked = await store.get_refresh_token(sibling.token_hash)
    assert revoked is not None and revoked.revoked

    await store.revoke_user_refresh_tokens("u1")
    assert await store.use_refresh_token(other_family.token_hash, now=1) is None
    assert await store.use_refresh_token(other_user.token_hash, now=1) is not None


async def test_unknown_refresh_tokens_are_none(store: Store) -> None:
    assert await store.get_refresh_token("nope") is None
    assert await store.use_refresh_token("nope", now=1) is None


# -- revoked access tokens ---------------------------------------------------------


async def test_a_revoked_access_token_stays_revoked_until_it_expires(store: Store) -> None:
    now = now_ms() // 1000
    assert not await store.is_access_token_revoked("jti-1")

    await store.revoke_access_token("jti-1", now + 900)
    await store.revoke_access_token("jti-1", now + 900)  # a second logout is harmless

    assert await store.is_access_token_revoked("jti-1")
    assert not await store.is_access_token_revoked("jti-2")
    await store.revoke_access_token("jti-old", now - 1)
    assert not await store.is_access_token_revoked("jti-old")


async def test_revoking_drops_entries_of_expired_tokens(store: Store) -> None:
    now = now_ms() // 1000
    await store.revoke_access_token("expired", now - 60)
    await store.revoke_access_token("live", now + 900)

    assert await _revoked_jtis(store) == ["live"]


async def _revoked_jtis(store: Store) -> list[str]:
    """Every stored revocation entry, expired or not (reads the adapter's own storage)."""
    if isinstance(store, SqliteStore):
        with sqlite3.connect(store.path) as db:
            rows = db.execute("SELECT jti FROM revoked_access_tokens ORDER BY jti").fetchall()
        return [row[0] for row in rows]
    assert isinstance(store, MongoStore)
    collection = store.database["revoked_access_tokens"]
    return sorted([doc["_id"] async for doc in collection.find({}, projection={"_id": 1})])


# -- purging expired tokens ----------------------------------------------------------

#: A real MongoDB's TTL monitor runs once a minute; nx-27017 purges as it reads.
MONGO_PURGE_DEADLINE_SECONDS = 90.0
#: SQLite's purger runs every PURGE_TEST_INTERVAL here.
SQLITE_PURGE_DEADLINE_SECONDS = 10.0
PURGE_TEST_INTERVAL = 0.05


async def _refresh_hashes(store: Store) -> list[str]:
    """Every stored refresh token's hash, expired or not (the adapter's own storage)."""
    if isinstance(store, SqliteStore):
        with sqlite3.connect(store.path) as db:
            rows = db.execute("SELECT token_hash FROM refresh_tokens ORDER BY 1").fetchall()
        return [row[0] for row in rows]
    assert isinstance(store, MongoStore)
    collection = store.database["refresh_tokens"]
    return sorted([doc["_id"] async for doc in collection.find({}, projection={"_id": 1})])


async def test_expired_tokens_and_revocations_are_purged(store: Store) -> None:
    now = now_ms()
    expired = a_refresh_token(expires_at=now - 1000)
    live = a_refresh_token(expires_at=now + 3_600_000)
    await store.add_refresh_token(expired)
    await store.add_refresh_token(live)
    await store.revoke_access_token("live", now // 1000 + 900)
    await store.revoke_access_token("expired", now // 1000 - 60)  # after the other: kept

    async def purged() -> bool:
        tokens, revocations = await _refresh_hashes(store), await _revoked_jtis(store)
        return tokens == [live.token_hash] and revocations == ["live"]

    # SQLite purges with a task of the node; MongoDB by itself (TTL indexes).
    if isinstance(store, SqliteStore):
        purging, wait = purging_tokens(store, PURGE_TEST_INTERVAL), SQLITE_PURGE_DEADLINE_SECONDS
    else:
        purging, wait = nullcontext(), MONGO_PURGE_DEADLINE_SECONDS
    async with purging:
        deadline = time.monotonic() + wait
        while not await purged():
            assert time.monotonic() < deadline, (await _refresh_hashes(store), expired)
            await asyncio.sleep(PURGE_TEST_INTERVAL)
    assert await store.get_refresh_token(live.token_hash) == live
    assert await store.is_access_token_revoked("live")


async def test_the_sqlite_store_of_a_node_purges_expired_tokens(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    async with open_store(settings, purge_interval=PURGE_TEST_INTERVAL) as store:
        expired = a_refresh_token(expires_at=now_ms() - 1000)
        await store.add_refresh_token(expired)
        deadline = time.monotonic() + 10
        while await store.get_refresh_token(expired.token_hash) is not None:
            assert time.monotonic() < deadline
            await asyncio.sleep(PURGE_TEST_INTERVAL)


# -- rooms -------------------------------------------------------------------------


async def test_created_room_can_be_read_back(store: Store) -> None:
    room = a_room("design", RoomKind.PRIVATE, created_by="u1", topic="pixels")

    assert await store.create_room(room) == room
    assert await store.get_room("design") == room
    assert await store.get_room("nope") is None


async def test_a_voice_room_keeps_its_flag(store: Store) -> None:
    voice = a_room("lounge", voice=True)
    assert await store.create_room(voice) == voice
    assert (await store.get_room("lounge")) == voice
    assert (await store.ensure_room(a_room("lounge"))).voice is True
    plain = await store.ensure_room(a_room("text"))
    assert plain.voice is False


async def test_creating_a_room_with_an_existing_id_conflicts(store: Store, general: Room) -> None:
    with pytest.raises(Conflict):
        await store.create_room(a_room("general", name="Other"))
    assert await store.get_room("general") == general


async def test_ensure_room_creates_once_then_returns_the_existing_room(store: Store) -> None:
    first = await store.ensure_room(a_room("random", topic="first"))
    again = await store.ensure_room(a_room("random", topic="second"))

    assert again == first
    assert first.topic == "first"


async def test_concurrent_ensure_room_makes_exactly_one_room(store: Store) -> None:
    candidates = [a_room("lobby", topic=f"attempt {i}") for i in range(10)]

    rooms = await asyncio.gather(*(store.ensure_room(r) for r in candidates))

    assert len(set(rooms)) == 1
    assert rooms[0] in candidates
    assert await store.list_public_rooms() == [rooms[0]]


async def test_list_public_rooms_excludes_private_rooms_and_dms(store: Store) -> None:
    for room in (
        a_room("zeta"),
        a_room("alpha"),
        a_room(new_id(), RoomKind.PRIVATE),
        a_room(new_id(), RoomKind.DM),
    ):
        await store.create_room(room)

    assert [r.id for r in await store.list_public_rooms()] == ["alpha", "zeta"]


# -- membership --------------------------------------------------------------------


async def test_add_member_is_true_only_for_a_new_member_and_keeps_the_first_role(
    store: Store, general: Room, alice: User
) -> None:
    assert await store.add_member("general", alice.id, role="owner") is True
    assert await store.add_member("general", alice.id) is False

    assert await store.member_role("general", alice.id) == "owner"


async def test_member_roles_and_membership_checks(
    store: Store, general: Room, alice: User, bob: User
) -> None:
    await store.add_member("general", alice.id, role="moderator")

    assert await store.is_member("general", alice.id)
    assert await store.member_role("general", alice.id) == "moderator"
    assert not await store.is_member("general", bob.id)
    assert await store.member_role("general", bob.id) is None
    assert await store.member_role("elsewhere", alice.id) is None


async def test_default_role_is_member(store: Store, general: Room, alice: User) -> None:
    await store.add_member("general", alice.id)
    assert await store.member_role("general", alice.id) == "member"


async def test_concurrent_joins_make_one_membership(
    store: Store, general: Room, alice: User
) -> None:
    added = await asyncio.gather(*(store.add_member("general", alice.id) for _ in range(5)))

    assert sorted(added) == [False] * 4 + [True]
    assert await store.member_ids("general") == [alice.id]
    assert await store.rooms_of(alice.id) == [general]


async def test_remove_member_is_true_only_if_they_were_a_member(
    store: Store, general: Room, alice: User
) -> None:
    await store.add_member("general", alice.id)

    assert await store.remove_member("general", alice.id) is True
    assert await store.remove_member("general", alice.id) is False
    assert not await store.is_member("general", alice.id)
    assert await store.add_member("general", alice.id) is True


async def test_member_ids_lists_every_member_of_the_room(
    store: Store, general: Room, alice: User, bob: User
) -> None:
    await store.create_room(a_room("other"))
    await store.add_member("general", bob.id)
    await store.add_member("general", alice.id)
    await store.add_member("other", alice.id)

    assert await store.member_ids("general") == sorted([alice.id, bob.id])
    assert await store.member_ids("other") == [alice.id]
    assert await store.member_ids("empty") == []


async def test_rooms_of_lists_only_the_users_rooms(
    store: Store, general: Room, alice: User, bob: User
) -> None:
    private = await store.create_room(a_room("secret", RoomKind.PRIVATE))
    await store.create_room(a_room("unjoined"))
    await store.add_member("general", alice.id)
    await store.add_member("secret", alice.id, role="owner")
    await store.add_member("general", bob.id)

    assert await store.rooms_of(alice.id) == [general, private]
    assert await store.rooms_of(bob.id) == [general]
    assert await store.rooms_of(new_id()) == []


async def test_a_member_of_a_missing_room_is_refused(store: Store, alice: User) -> None:
    with pytest.raises(StoreError):
        await store.add_member("no-such-room", alice.id)
    assert await store.rooms_of(alice.id) == []


async def test_an_unknown_role_is_refused(store: Store, general: Room, alice: User) -> None:
    with pytest.raises(ValueError, match="role"):
        await store.add_member("general", alice.id, role="admin")


# -- messages: seq -----------------------------------------------------------------


async def test_seqs_count_1_2_3_per_room_independently(
    store: Store, general: Room, alice: User
) -> None:
    await store.create_room(a_room("other"))

    assert await append_texts(store, "general", alice, "a", "b") == [1, 2]
    assert await append_texts(store, "other", alice, "x") == [1]
    assert await append_texts(store, "general", alice, "c") == [3]
    assert await store.last_seq("general") == 3
    assert await store.last_seq("other") == 1


async def test_last_seq_is_0_for_an_empty_or_unknown_room(store: Store, general: Room) -> None:
    assert await store.last_seq("general") == 0
    assert await store.last_seq("no-such-room") == 0


async def test_concurrent_appends_get_exactly_seqs_1_to_50(
    store: Store, general: Room, alice: User
) -> None:
    results = await asyncio.gather(
        *(store.append_message(a_message("general", alice, f"m{i}")) for i in range(50))
    )

    assert sorted(message.seq for message, _ in results) == list(range(1, 51))
    assert all(created for _, created in results)
    assert await store.last_seq("general") == 50
    stored = await store.messages_after("general", 0, 100)
    assert [m.seq for m in stored] == list(range(1, 51))


async def test_appends_cancelled_half_way_leave_no_seq_gap(
    store: Store, general: Room, alice: User
) -> None:
    # A handler can be cancelled at any await (its socket closed). Whether the
    # message was then stored is the adapter's business, a gap is not.
    tasks = [
        asyncio.create_task(store.append_message(a_message("general", alice, f"m{i}")))
        for i in range(20)
    ]
    for task in tasks[::2]:
        await asyncio.sleep(0)
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    after, _ = await store.append_message(a_message("general", alice, "after"))

    stored = await store.messages_after("general", 0, 100)
    assert [m.seq for m in stored] == list(range(1, len(stored) + 1))
    assert stored[-1] == after
    assert await store.last_seq("general") == after.seq


async def test_appending_to_a_missing_room_fails_and_allocates_nothing(
    store: Store, alice: User
) -> None:
    with pytest.raises(StoreError):
        await store.append_message(a_message("no-such-room", alice))
    assert await store.last_seq("no-such-room") == 0


async def test_a_failing_append_among_concurrent_ones_fails_alone(
    store: Store, general: Room, alice: User
) -> None:
    # SQLite writes concurrent appends in one transaction (group commit): one
    # that fails must neither take the others down nor leave a gap.
    results = await asyncio.gather(
        *(
            store.append_message(a_message("no-such-room" if i == 3 else "general", alice, f"m{i}"))
            for i in range(8)
        ),
        return_exceptions=True,
    )

    assert isinstance(results[3], StoreError)
    stored = [r for i, r in enumerate(results) if i != 3]
    assert sorted(m.seq for m, _ in stored) == list(range(1, 8))  # type: ignore[union-attr]
    assert sorted(m.text for m in await store.messages_after("general", 0, 10)) == [
        f"m{i}" for i in range(8) if i != 3
    ]


# -- messages: content -------------------------------------------------------------


async def test_appended_message_carries_what_was_asked_plus_id_seq_and_ts(
    store: Store, general: Room, alice: User
) -> None:
    before = now_ms()
    parent, _ = await store.append_message(a_message("general", alice, "parent"))
    reply, created = await store.append_message(
        a_message("general", alice, "reply", nonce="n-1", thread_id=parent.id)
    )

    assert created
    assert (reply.room_id, reply.user_id, reply.username) == ("general", alice.id, "Alice")
    assert (reply.text, reply.message_type, reply.nonce) == ("reply", "text", "n-1")
    assert reply.thread_id == parent.id
    assert reply.id != parent.id and reply.seq == 2
    assert before <= reply.ts <= now_ms()
    assert reply.edited_at is None and reply.attachments == ()
    assert await store.get_message("general", reply.id) == reply


async def test_attachments_round_trip(store: Store, general: Room, alice: User) -> None:
    image = Attachment(
        key="files/abc.png",
        name="cat.png",
        size=12345,
        content_type="image/png",
        width=640,
        height=480,
        thumbnail_key="files/abc.thumb.webp",
    )
    document = Attachment(key="files/def", name="notes.pdf", size=1, content_type="application/pdf")

    message, _ = await store.append_message(
        a_message("general", alice, "", message_type="file", attachments=(image, document))
    )

    assert message.attachments == (image, document)
    assert await store.get_message("general", message.id) == message
    [listed] = await store.messages_before("general", None, 10)
    assert listed.attachments == (image, document) and listed.message_type == "file"


async def test_get_message_is_none_for_another_room_or_unknown_id(
    store: Store, general: Room, alice: User
) -> None:
    await store.create_room(a_room("other"))
    message, _ = await store.append_message(a_message("general", alice))

    assert await store.get_message("other", message.id) is None
    assert await store.get_message("general", new_id()) is None


# -- messages: idempotent retries ----------------------------------------------------


async def test_a_retry_with_the_same_nonce_returns_the_first_message_and_takes_no_seq(
    store: Store, general: Room, alice: User
) -> None:
    first, created = await store.append_message(a_message("general", alice, "hi", nonce="n-1"))
    retry, created_again = await store.append_message(
        a_message("general", alice, "hi", nonce="n-1")
    )

    assert created and not created_again
    assert retry == first
    assert await store.last_seq("general") == 1
    nxt, _ = await store.append_message(a_message("general", alice, "next", nonce="n-2"))
    assert nxt.seq == 2


async def test_messages_without_nonce_are_never_deduplicated(
    store: Store, general: Room, alice: User
) -> None:
    results = [await store.append_message(a_message("general", alice, "same")) for _ in range(3)]

    assert [(m.seq, created) for m, created in results] == [(1, True), (2, True), (3, True)]


async def test_the_same_nonce_from_different_users_makes_different_messages(
    store: Store, general: Room, alice: User, bob: User
) -> None:
    from_alice, a_created = await store.append_message(a_message("general", alice, nonce="n"))
    from_bob, b_created = await store.append_message(a_message("general", bob, nonce="n"))

    assert a_created and b_created
    assert from_alice.id != from_bob.id
    assert (from_alice.seq, from_bob.seq) == (1, 2)


async def test_concurrent_retries_are_stored_once_without_a_seq_gap(
    store: Store, general: Room, alice: User
) -> None:
    results = await asyncio.gather(
        *(store.append_message(a_message("general", alice, nonce="n-1")) for _ in range(5))
    )

    assert len({message for message, _ in results}) == 1
    assert sorted(created for _, created in results) == [False] * 4 + [True]
    assert await store.last_seq("general") == 1
    assert len(await store.messages_after("general", 0, 10)) == 1


# -- messages: history paging --------------------------------------------------------


async def test_messages_before_without_cursor_gives_the_latest_oldest_first(
    store: Store, general: Room, alice: User
) -> None:
    await append_texts(store, "general", alice, *(f"m{i}" for i in range(1, 8)))

    latest = await store.messages_before("general", None, 3)

    assert [m.seq for m in latest] == [5, 6, 7]
    assert [m.text for m in latest] == ["m5", "m6", "m7"]


async def test_messages_before_pages_back_to_the_start(
    store: Store, general: Room, alice: User
) -> None:
    await append_texts(store, "general", alice, *(f"m{i}" for i in range(1, 8)))

    pages = []
    cursor: int | None = None
    while page := await store.messages_before("general", cursor, 3):
        pages.append([m.seq for m in page])
        cursor = page[0].seq

    assert pages == [[5, 6, 7], [2, 3, 4], [1]]
    assert await store.messages_before("general", 1, 3) == []
    assert await store.messages_before("empty", None, 3) == []


async def test_messages_after_gives_the_next_ones_oldest_first(
    store: Store, general: Room, alice: User
) -> None:
    await store.create_room(a_room("other"))
    await append_texts(store, "other", alice, "elsewhere")
    await append_texts(store, "general", alice, *(f"m{i}" for i in range(1, 6)))

    assert [m.seq for m in await store.messages_after("general", 0, 2)] == [1, 2]
    assert [m.seq for m in await store.messages_after("general", 3, 10)] == [4, 5]
    assert await store.messages_after("general", 5, 10) == []
    assert all(m.room_id == "general" for m in await store.messages_after("general", 0, 10))


# -- conversations: the room event log ---------------------------------------------


async def test_every_event_takes_exactly_one_seq_and_a_message_keeps_its_own(
    store: Store, general: Room, alice: User, bob: User
) -> None:
    message, _ = await store.append_message(a_message("general", alice, "v1"))
    edited = await store.edit_message("general", message.id, "v2")
    added = await store.add_reaction("general", message.id, bob.id, "bob", ":+1:")
    removed = await store.remove_reaction("general", message.id, bob.id, "bob", ":+1:")
    deleted = await store.delete_message("general", message.id)

    assert edited is not None and added is not None and removed is not None
    assert deleted is not None
    assert (message.seq, edited[1], added.seq, removed.seq, deleted[1]) == (1, 2, 3, 4, 5)
    assert edited[0].seq == 1, "an edit keeps the message's own seq"
    assert await store.last_seq("general") == 5
    events = await store.events_after("general", 0, 10)
    assert [(e.seq, e.kind) for e in events] == [
        (1, EventKind.MESSAGE),
        (2, EventKind.EDIT),
        (3, EventKind.REACTION),
        (4, EventKind.REACTION),
        (5, EventKind.DELETE),
    ]
    assert {e.message_id for e in events} == {message.id}
    assert [e.payload.get("op") for e in events[2:4]] == ["add", "remove"]
    assert events[2].payload == {"emoji": ":+1:", "user_id": bob.id, "username": "bob", "op": "add"}


async def test_events_carry_the_message_as_it_is_now_and_nothing_once_deleted(
    store: Store, general: Room, alice: User
) -> None:
    kept, _ = await store.append_message(a_message("general", alice, "first"))
    gone, _ = await store.append_message(a_message("general", alice, "secret"))
    await store.edit_message("general", kept.id, "first, edited")
    await store.delete_message("general", gone.id)

    events = await store.events_after("general", 0, 10)

    by_seq = {e.seq: e for e in events}
    assert by_seq[1].message is not None and by_seq[1].message.text == "first, edited"
    assert by_seq[3].message is not None and by_seq[3].message.edited_at is not None
    assert by_seq[2].message is None and by_seq[4].message is None
    assert by_seq[4].kind is EventKind.DELETE and by_seq[4].message_id == gone.id
    assert all("secret" not in str(e.payload) for e in events)


async def test_events_after_pages_in_seq_order_per_room(
    store: Store, general: Room, alice: User
) -> None:
    await store.create_room(a_room("other"))
    await append_texts(store, "other", alice, "elsewhere")
    await append_texts(store, "general", alice, *(f"m{i}" for i in range(1, 6)))

    assert [e.seq for e in await store.events_after("general", 0, 2)] == [1, 2]
    assert [e.seq for e in await store.events_after("general", 3, 10)] == [4, 5]
    assert await store.events_after("general", 5, 10) == []
    assert await store.events_after("general", 0, 0) == []
    assert all(e.room_id == "general" for e in await store.events_after("general", 0, 10))


async def test_a_read_started_after_a_write_returned_sees_it_even_under_read_load(
    store: Store, general: Room, alice: User
) -> None:
    """Read-your-writes while other coroutines keep the store's readers busy: a
    resume reads the event log right after another socket's append, and must
    find it (SQLite once kept serving an old snapshot for seconds under load)."""
    stop = asyncio.Event()

    async def keep_reading() -> None:
        while not stop.is_set():
            await store.events_after("general", 0, 5)
            await store.last_seq("general")

    readers = [asyncio.create_task(keep_reading()) for _ in range(20)]
    try:
        await asyncio.sleep(0.05)  # the readers are under way
        for _ in range(20):
            message, _ = await store.append_message(a_message("general", alice, "now"))
            assert await store.last_seq("general") == message.seq
            events = await store.events_after("general", message.seq - 1, 5)
            assert [e.seq for e in events] == [message.seq]
    finally:
        stop.set()
        await asyncio.gather(*readers)


async def test_concurrent_edits_reactions_and_messages_share_one_gapless_counter(
    store: Store, general: Room, alice: User, bob: User
) -> None:
    base, _ = await store.append_message(a_message("general", alice, "base"))
    await asyncio.gather(
        *(store.append_message(a_message("general", alice, f"m{i}")) for i in range(10)),
        *(store.edit_message("general", base.id, f"e{i}") for i in range(5)),
        *(store.add_reaction("general", base.id, bob.id, "bob", f"e{i}") for i in range(5)),
    )

    assert await store.last_seq("general") == 21
    assert [e.seq for e in await store.events_after("general", 0, 50)] == list(range(1, 22))


# -- conversations: edits and deletes -------------------------------------------------


async def test_an_edit_replaces_the_text_everywhere_and_stamps_edited_at(
    store: Store, general: Room, alice: User
) -> None:
    message, _ = await store.append_message(a_message("general", alice, "helo wrold"))
    before = now_ms()

    result = await store.edit_message("general", message.id, "hello world")

    assert result is not None
    edited, _ = result
    assert (edited.id, edited.seq, edited.text) == (message.id, 1, "hello world")
    assert edited.edited_at is not None and before <= edited.edited_at <= now_ms()
    assert await store.get_message("general", message.id) == edited
    assert await store.messages_before("general", None, 10) == [edited]


async def test_editing_or_deleting_a_missing_message_is_none_and_takes_no_seq(
    store: Store, general: Room, alice: User
) -> None:
    await store.create_room(a_room("other"))
    message, _ = await store.append_message(a_message("general", alice))

    assert await store.edit_message("other", message.id, "x") is None
    assert await store.edit_message("general", new_id(), "x") is None
    assert await store.delete_message("other", message.id) is None
    assert await store.delete_message("general", new_id()) is None
    assert await store.last_seq("general") == 1
    assert await store.last_seq("other") == 0


async def test_a_deleted_message_is_gone_with_its_reactions_and_returned_once(
    store: Store, general: Room, alice: User, bob: User
) -> None:
    photo = Attachment(
        key="f/1", name="a.png", size=3, content_type="image/png", thumbnail_key="t/1"
    )
    message, _ = await store.append_message(
        a_message("general", alice, "look", message_type="file", attachments=(photo,))
    )
    await store.add_reaction("general", message.id, bob.id, "bob", ":eyes:")

    result = await store.delete_message("general", message.id)

    assert result is not None
    deleted, seq = result
    assert deleted == message and seq == 3
    assert await store.get_message("general", message.id) is None
    assert await store.messages_before("general", None, 10) == []
    assert await store.reactions([message.id], bob.id) == {}
    assert await store.delete_message("general", message.id) is None
    assert await store.add_reaction("general", message.id, bob.id, "bob", ":+1:") is None


# -- conversations: reactions ------------------------------------------------------------


async def test_reacting_twice_stores_one_reaction_and_takes_no_second_seq(
    store: Store, general: Room, alice: User, bob: User
) -> None:
    message, _ = await store.append_message(a_message("general", alice))

    first = await store.add_reaction("general", message.id, bob.id, "bob", "👍")
    again = await store.add_reaction("general", message.id, bob.id, "bob", "👍")

    assert first is not None and again is not None
    assert (first.changed, again.changed) == (True, False)
    assert again.seq == first.seq == 2
    assert await store.last_seq("general") == 2
    assert await store.reactions([message.id], bob.id) == {
        message.id: [ReactionCount(emoji="👍", count=1, me=True)]
    }


async def test_removing_an_absent_reaction_changes_nothing(
    store: Store, general: Room, alice: User, bob: User
) -> None:
    message, _ = await store.append_message(a_message("general", alice))

    change = await store.remove_reaction("general", message.id, bob.id, "bob", "👍")

    assert change is not None and not change.changed and change.seq == message.seq
    assert await store.last_seq("general") == 1


async def test_reaction_counts_per_emoji_oldest_first_with_me_for_the_viewer(
    store: Store, general: Room, alice: User, bob: User
) -> None:
    one, _ = await store.append_message(a_message("general", alice, "one"))
    two, _ = await store.append_message(a_message("general", alice, "two"))
    plain, _ = await store.append_message(a_message("general", alice, "three"))
    await store.add_reaction("general", one.id, bob.id, "bob", ":tada:")
    await store.add_reaction("general", one.id, alice.id, "Alice", "👍")
    await store.add_reaction("general", one.id, bob.id, "bob", "👍")
    await store.add_reaction("general", two.id, alice.id, "Alice", "👍")
    await store.remove_reaction("general", one.id, bob.id, "bob", ":tada:")
    await store.add_reaction("general", one.id, bob.id, "bob", ":tada:")

    seen_by_bob = await store.reactions([one.id, two.id, plain.id], bob.id)

    assert seen_by_bob == {
        one.id: [
            ReactionCount(emoji="👍", count=2, me=True),
            ReactionCount(emoji=":tada:", count=1, me=True),
        ],
        two.id: [ReactionCount(emoji="👍", count=1, me=False)],
    }
    assert await store.reactions([], bob.id) == {}


async def test_concurrent_identical_reactions_store_one(
    store: Store, general: Room, alice: User, bob: User
) -> None:
    message, _ = await store.append_message(a_message("general", alice))

    changes = await asyncio.gather(
        *(store.add_reaction("general", message.id, bob.id, "bob", "🎉") for _ in range(5))
    )

    assert sorted(c.changed for c in changes if c is not None) == [False] * 4 + [True]
    assert await store.last_seq("general") == 2
    assert (await store.reactions([message.id], alice.id))[message.id][0].count == 1


# -- conversations: threads ----------------------------------------------------------------


async def test_replies_count_on_the_parent_and_page_like_history(
    store: Store, general: Room, alice: User, bob: User
) -> None:
    parent, _ = await store.append_message(a_message("general", alice, "parent"))
    await append_texts(store, "general", alice, "not in the thread")
    replies = [
        (await store.append_message(a_message("general", bob, f"r{i}", thread_id=parent.id)))[0]
        for i in range(5)
    ]

    stored = await store.get_message("general", parent.id)
    assert stored is not None
    assert (stored.thread_count, stored.thread_last_ts) == (5, replies[-1].ts)
    page = await store.thread_messages("general", parent.id, limit=3)
    assert [m.text for m in page] == ["r2", "r3", "r4"]
    older = await store.thread_messages("general", parent.id, limit=3, before_seq=page[0].seq)
    assert [m.text for m in older] == ["r0", "r1"]
    newer = await store.thread_messages("general", parent.id, limit=2, after_seq=replies[0].seq)
    assert [m.text for m in newer] == ["r1", "r2"]
    between = await store.thread_messages(
        "general", parent.id, limit=10, after_seq=replies[0].seq, before_seq=replies[3].seq
    )
    assert [m.text for m in between] == ["r1", "r2"]
    assert await store.thread_messages("other", parent.id, limit=10) == []


async def test_deleting_a_reply_takes_it_off_the_parents_count(
    store: Store, general: Room, alice: User
) -> None:
    parent, _ = await store.append_message(a_message("general", alice, "parent"))
    first, _ = await store.append_message(a_message("general", alice, "a", thread_id=parent.id))
    last, _ = await store.append_message(a_message("general", alice, "b", thread_id=parent.id))

    await store.delete_message("general", last.id)
    stored = await store.get_message("general", parent.id)
    assert stored is not None and (stored.thread_count, stored.thread_last_ts) == (1, first.ts)

    await store.delete_message("general", first.id)
    stored = await store.get_message("general", parent.id)
    assert stored is not None and (stored.thread_count, stored.thread_last_ts) == (0, None)


# -- conversations: mentions, read state and unread counts -------------------------------------


async def test_mentions_round_trip_and_are_replaced_by_an_edit(
    store: Store, general: Room, alice: User, bob: User
) -> None:
    message, _ = await store.append_message(
        a_message(
            "general", alice, "@bob @room", mentions=(Mention(bob.id, "bob"),), mentions_room=True
        )
    )
    assert message.mentions == (Mention(bob.id, "bob"),) and message.mentions_room
    assert await store.get_message("general", message.id) == message

    result = await store.edit_message("general", message.id, "nobody")
    assert result is not None
    assert (result[0].mentions, result[0].mentions_room) == ((), False)


async def test_a_new_member_starts_with_nothing_unread(
    store: Store, general: Room, alice: User, bob: User
) -> None:
    await store.add_member("general", alice.id)
    await append_texts(store, "general", alice, "a", "b")

    await store.add_member("general", bob.id)

    assert await store.unread(bob.id, ["general"]) == {
        "general": Unread(last_read=2, count=0, mentions=0)
    }
    assert await store.read_positions("general") == {alice.id: 0, bob.id: 2}


async def test_read_positions_only_move_forward(store: Store, general: Room, alice: User) -> None:
    await store.add_member("general", alice.id)

    assert await store.mark_read(alice.id, "general", 5) == 5
    assert await store.mark_read(alice.id, "general", 3) == 5
    assert await store.mark_read(alice.id, "general", 9) == 9
    assert await store.read_positions("general") == {alice.id: 9}


async def test_unread_counts_others_messages_and_mentions_after_the_read_position(
    store: Store, general: Room, alice: User, bob: User
) -> None:
    carol = await store.create_user("carol", "hash-c")
    await store.create_room(a_room("quiet"))
    for user in (alice, bob, carol):
        await store.add_member("general", user.id)
        await store.add_member("quiet", user.id)
    await append_texts(store, "general", bob, "one")
    await append_texts(store, "general", alice, "mine, not unread")
    await store.append_message(
        a_message("general", bob, "@Alice", mentions=(Mention(alice.id, "Alice"),))
    )
    # Naming her and @room is still one mention.
    await store.append_message(
        a_message(
            "general",
            carol,
            "@room @Alice",
            mentions=(Mention(alice.id, "Alice"),),
            mentions_room=True,
        )
    )
    await store.append_message(
        a_message("general", bob, "@carol", mentions=(Mention(carol.id, "carol"),))
    )
    # Her own @room is no mention for her.
    await store.append_message(a_message("general", alice, "@room", mentions_room=True))

    counts = await store.unread(alice.id, ["general", "quiet"])

    assert counts == {
        "general": Unread(last_read=0, count=4, mentions=2),
        "quiet": Unread(last_read=0, count=0, mentions=0),
    }
    await store.mark_read(alice.id, "general", 3)
    assert (await store.unread(alice.id, ["general"]))["general"] == Unread(
        last_read=3, count=2, mentions=1
    )
    assert (await store.unread(carol.id, ["general"]))["general"] == Unread(
        last_read=0, count=5, mentions=2
    )
    assert await store.unread(alice.id, []) == {}


async def test_a_deleted_message_is_no_longer_unread_or_a_mention(
    store: Store, general: Room, alice: User, bob: User
) -> None:
    await store.add_member("general", alice.id)
    message, _ = await store.append_message(
        a_message("general", bob, "@Alice", mentions=(Mention(alice.id, "Alice"),))
    )

    await store.delete_message("general", message.id)

    assert await store.unread(alice.id, ["general"]) == {
        "general": Unread(last_read=0, count=0, mentions=0)
    }


# -- conversations: search and activity ------------------------------------------------------


@pytest.fixture
async def searchable(store: Store, general: Room, alice: User, bob: User) -> dict[str, str]:
    """Alice is in general and secret, bob in general only; a few messages to find."""
    await store.create_room(a_room("secret", RoomKind.PRIVATE))
    await store.add_member("general", alice.id)
    await store.add_member("general", bob.id)
    await store.add_member("secret", alice.id)
    ids = {}
    for key, room, user, text in [
        ("g1", "general", alice, "Lunch at the Café today?"),
        ("g2", "general", bob, "lunch tomorrow, maybe"),
        ("s1", "secret", alice, "secret lunch plans"),
        ("g3", "general", bob, "dinner instead"),
    ]:
        message, _ = await store.append_message(a_message(room, user, text))
        ids[key] = message.id
        # Distinct milliseconds, so "newest first" has one right answer.
        await asyncio.sleep(0.002)
    return ids


def search(user: User, *terms: str, **fields: object) -> SearchQuery:
    return SearchQuery(user_id=user.id, terms=terms, limit=int(fields.pop("limit", 20)), **fields)  # type: ignore[arg-type]


async def test_search_finds_whole_words_in_any_case_newest_first(
    store: Store, searchable: dict[str, str], alice: User
) -> None:
    found = await store.search_messages(search(alice, "LUNCH"))

    assert [m.id for m in found] == [searchable["s1"], searchable["g2"], searchable["g1"]]
    assert [m.id for m in await store.search_messages(search(alice, "lunch", "today"))] == [
        searchable["g1"]
    ]
    assert await store.search_messages(search(alice, "lun")) == []
    assert [m.id for m in await store.search_messages(search(alice, "cafe"))] == [searchable["g1"]]


async def test_search_only_ever_covers_the_searchers_rooms(
    store: Store, searchable: dict[str, str], alice: User, bob: User
) -> None:
    assert [m.id for m in await store.search_messages(search(bob, "lunch"))] == [
        searchable["g2"],
        searchable["g1"],
    ]
    assert await store.search_messages(search(bob, "lunch", room_id="secret")) == []
    await store.remove_member("secret", alice.id)
    assert searchable["s1"] not in [
        m.id for m in await store.search_messages(search(alice, "lunch"))
    ]


async def test_search_filters_by_room_author_and_time(
    store: Store, searchable: dict[str, str], alice: User, bob: User
) -> None:
    by_room = await store.search_messages(search(alice, "lunch", room_id="general"))
    assert [m.id for m in by_room] == [searchable["g2"], searchable["g1"]]
    by_author = await store.search_messages(search(alice, "lunch", author_id=bob.id))
    assert [m.id for m in by_author] == [searchable["g2"]]
    g2 = await store.get_message("general", searchable["g2"])
    assert g2 is not None
    before = await store.search_messages(search(alice, "lunch", before_ts=g2.ts))
    assert all(m.ts < g2.ts for m in before) and searchable["g1"] in [m.id for m in before]
    after = await store.search_messages(search(alice, "lunch", after_ts=g2.ts))
    assert all(m.ts > g2.ts for m in after)


async def test_search_pages_with_a_cursor_without_repeats_or_holes(
    store: Store, general: Room, alice: User
) -> None:
    await store.add_member("general", alice.id)
    await append_texts(store, "general", alice, *(f"needle {i}" for i in range(7)))

    pages, cursor = [], None
    while page := await store.search_messages(search(alice, "needle", limit=3, cursor=cursor)):
        pages.append(page)
        cursor = (page[-1].ts, page[-1].id)

    found = [m for p in pages for m in p]
    # Newest first; messages of the same millisecond in id order (a total order).
    assert [(m.ts, m.id) for m in found] == sorted(((m.ts, m.id) for m in found), reverse=True)
    assert sorted(m.text for m in found) == [f"needle {i}" for i in range(7)]
    assert [len(p) for p in pages] == [3, 3, 1]


async def test_search_follows_edits_and_forgets_deleted_messages(
    store: Store, searchable: dict[str, str], alice: User
) -> None:
    await store.edit_message("general", searchable["g3"], "lunch after all")
    await store.delete_message("general", searchable["g2"])

    found = [m.id for m in await store.search_messages(search(alice, "lunch"))]
    assert found == [searchable["g3"], searchable["s1"], searchable["g1"]]
    assert await store.search_messages(search(alice, "dinner")) == []
    assert await store.search_messages(search(alice, "tomorrow")) == []


async def test_last_activity_is_the_latest_message_time(
    store: Store, general: Room, alice: User
) -> None:
    await store.create_room(a_room("empty"))
    await append_texts(store, "general", alice, "a")
    last, _ = await store.append_message(a_message("general", alice, "b"))

    assert await store.last_activity(["general", "empty", "missing"]) == {"general": last.ts}
    assert await store.last_activity([]) == {}


# -- SQLite only -------------------------------------------------------------------


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    # A directory that does not exist yet: open() must create it.
    return tmp_path / "data" / "chatd.db"


async def test_sqlite_keeps_everything_across_close_and_reopen(db_path: Path) -> None:
    store = await SqliteStore.open(db_path)
    user = await store.create_user("Alice", "hash")
    room = await store.create_room(a_room("general"))
    await store.add_member("general", user.id, role="owner")
    first, _ = await store.append_message(a_message("general", user, "kept", nonce="n-1"))
    await store.close()

    reopened = await SqliteStore.open(db_path)
    try:
        assert await reopened.get_user_by_name("alice") == user
        assert await reopened.get_room("general") == room
        assert await reopened.member_role("general", user.id) == "owner"
        assert await reopened.messages_before("general", None, 10) == [first]
        retry, created = await reopened.append_message(
            a_message("general", user, "kept", nonce="n-1")
        )
        assert (retry, created) == (first, False)
        nxt, _ = await reopened.append_message(a_message("general", user, "next"))
        assert nxt.seq == 2
    finally:
        await reopened.close()


def _pragma(path: Path, name: str) -> object:
    with sqlite3.connect(path) as db:
        return db.execute(f"PRAGMA {name}").fetchone()[0]


async def test_the_epoch_is_kept_until_new_epoch_replaces_it(store: Store) -> None:
    first = await store.epoch()
    assert first and await store.epoch() == first

    second = await store.new_epoch()
    assert second != first
    assert await store.epoch() == second


async def test_sqlite_keeps_its_epoch_across_reopens_and_gives_older_files_one(
    db_path: Path,
) -> None:
    store = await SqliteStore.open(db_path)
    epoch = await store.epoch()
    await store.close()
    reopened = await SqliteStore.open(db_path)
    try:
        assert await reopened.epoch() == epoch
    finally:
        await reopened.close()

    # A file from before epochs: the migration gives it a fresh one.
    older = db_path.with_name("older.db")
    await (await SqliteStore.open(older)).close()
    with sqlite3.connect(older) as db:
        db.execute("DROP TABLE store_meta")
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION - 1}")
    migrated = await SqliteStore.open(older)
    try:
        assert len(await migrated.epoch()) == 32
        assert await migrated.epoch() != epoch
    finally:
        await migrated.close()


async def test_mongo_keeps_its_epoch_across_reopens(
    mongo_target: tuple[str, str], opened_mongo: list[MongoStore]
) -> None:
    _, uri = mongo_target
    name = fresh_db_name()
    first = await MongoStore.open(uri, name)
    opened_mongo.append(first)
    epoch = await first.epoch()
    again = await MongoStore.open(uri, name)
    opened_mongo.append(again)
    assert await again.epoch() == epoch


async def test_sqlite_migrates_a_new_file_to_the_latest_version_once(
    db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="chatd.store.sqlite")
    store = await SqliteStore.open(db_path)
    await store.create_user("Alice", "hash")
    await store.close()

    assert _pragma(db_path, "user_version") == SCHEMA_VERSION
    assert _pragma(db_path, "journal_mode") == "wal"
    assert any("migrated" in r.message for r in caplog.records)
    caplog.clear()

    reopened = await SqliteStore.open(db_path)
    try:
        assert not any("migrated" in r.message for r in caplog.records)
        assert _pragma(db_path, "user_version") == SCHEMA_VERSION
        assert await reopened.get_user_by_name("alice") is not None
    finally:
        await reopened.close()


async def test_sqlite_migrates_a_file_of_version_4_to_keep_revocations(
    db_path: Path,
) -> None:
    store = await SqliteStore.open(db_path)
    await store.create_user("Alice", "hash")
    await store.close()
    # What a file written by a chatd of schema version 4 looks like.
    with sqlite3.connect(db_path) as db:
        db.execute("DROP TABLE revoked_access_tokens")
        db.execute("DROP TABLE store_meta")
        db.execute("PRAGMA user_version = 4")

    reopened = await SqliteStore.open(db_path)
    try:
        assert _pragma(db_path, "user_version") == SCHEMA_VERSION
        await reopened.revoke_access_token("jti", now_ms() // 1000 + 60)
        assert await reopened.is_access_token_revoked("jti")
        assert await reopened.get_user_by_name("alice") is not None
    finally:
        await reopened.close()


async def test_sqlite_refuses_a_file_from_a_newer_chatd(db_path: Path) -> None:
    store = await SqliteStore.open(db_path)
    await store.close()
    with sqlite3.connect(db_path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")

    with pytest.raises(StoreError, match="newer"):
        await SqliteStore.open(db_path)


async def test_sqlite_stores_sharing_one_file_allocate_gapless_seqs(db_path: Path) -> None:
    # Two instances = two connections with their own threads, locking the file
    # against each other exactly as two chatd processes would.
    one = await SqliteStore.open(db_path)
    two = await SqliteStore.open(db_path)
    try:
        await asyncio.gather(one.ensure_room(a_room("general")), two.ensure_room(a_room("general")))
        user = await one.create_user("Alice", "hash")
        results = await asyncio.gather(
            *(
                (one if i % 2 else two).append_message(a_message("general", user, f"m{i}"))
                for i in range(40)
            )
        )

        assert sorted(message.seq for message, _ in results) == list(range(1, 41))
        assert await two.last_seq("general") == 40
        assert [m.seq for m in await one.messages_after("general", 0, 100)] == list(range(1, 41))
    finally:
        await one.close()
        await two.close()


async def test_sqlite_writes_cancelled_anywhere_leave_no_transaction_or_lock(
    db_path: Path,
) -> None:
    # A write's caller can be cancelled at any await: while the thread takes
    # the lock and begins, inside the transaction, while it commits. Each write
    # must end committed or rolled back, its lock free for this instance and
    # for another process (here: a second instance on the same file).
    one = await SqliteStore.open(db_path)
    two = await SqliteStore.open(db_path)
    try:
        # 10 us steps: the early tasks are cancelled before their first trip,
        # the later ones at every stage of it, the last ones after it.
        for i in range(60):
            task = asyncio.create_task(one.create_user(f"user{i}", "hash"))
            await asyncio.sleep(i * 0.00001)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            # Well within the busy timeout (5 s): nobody waits for a lock left
            # held, and neither connection is left inside a transaction.
            await asyncio.wait_for(two.create_user(f"two{i}", "hash"), 1)
            await asyncio.wait_for(one.create_user(f"one{i}", "hash"), 1)

        assert await two.get_user_by_name("one59") is not None
    finally:
        await one.close()
        await two.close()


async def test_sqlite_retries_through_another_process_are_stored_once(db_path: Path) -> None:
    one = await SqliteStore.open(db_path)
    two = await SqliteStore.open(db_path)
    try:
        await one.create_room(a_room("general"))
        user = await one.create_user("Alice", "hash")
        results = await asyncio.gather(
            *(
                (one if i % 2 else two).append_message(a_message("general", user, nonce="n-1"))
                for i in range(6)
            )
        )

        assert len({message for message, _ in results}) == 1
        assert await one.last_seq("general") == 1
    finally:
        await one.close()
        await two.close()


# -- MongoDB only ------------------------------------------------------------------


@pytest.fixture(params=mongo_targets())
def mongo_target(request: pytest.FixtureRequest) -> tuple[str, str]:
    """(target id, URI) of each Mongo server of this run."""
    return request.param, mongo_uri_for(request, request.param)


@pytest.fixture
async def opened_mongo() -> AsyncIterator[list[MongoStore]]:
    """Collects stores a test opens; drops their databases and closes them afterwards."""
    stores: list[MongoStore] = []
    yield stores
    for store in stores:
        await store.database.client.drop_database(store.database.name)
        await store.close()


async def test_mongo_database_is_the_argument_else_the_uri_path_else_chatd(
    mongo_target: tuple[str, str], opened_mongo: list[MongoStore]
) -> None:
    target, uri = mongo_target
    name, other = fresh_db_name(), fresh_db_name()

    from_path = await MongoStore.open(f"{uri.rstrip('/')}/{name}")
    opened_mongo.append(from_path)
    assert from_path.database.name == name

    explicit = await MongoStore.open(f"{uri.rstrip('/')}/{name}", db_name=other)
    opened_mongo.append(explicit)
    assert explicit.database.name == other
    await explicit.check()

    if target == MONGO_NX:  # never create (then drop) "chatd" on a real server
        default = await MongoStore.open(uri)
        opened_mongo.append(default)
        assert default.database.name == DEFAULT_DB_NAME


async def test_mongo_migrates_a_new_database_once(
    mongo_target: tuple[str, str], opened_mongo: list[MongoStore]
) -> None:
    _, uri = mongo_target
    name = fresh_db_name()
    first = await MongoStore.open(uri, name)
    opened_mongo.append(first)
    assert first.migration is not None
    assert (first.migration.found, first.migration.current) == (0, MONGO_SCHEMA_VERSION)
    stored = await first.database[SCHEMA_COLLECTION].find_one({"_id": SCHEMA_DOCUMENT_ID})
    assert stored is not None and stored["version"] == MONGO_SCHEMA_VERSION

    again = await MongoStore.open(uri, name)
    opened_mongo.append(again)
    assert again.migration is not None
    assert again.migration.found == again.migration.current == MONGO_SCHEMA_VERSION
    assert "is current at schema version" in again.migration.summary()


@pytest.mark.parametrize("target", xfail_on_nx(mongo_targets(), NX_LISTS_INDEXES_ITS_OWN_WAY))
async def test_mongo_creates_only_the_indexes_a_database_lacks(
    target: str, request: pytest.FixtureRequest, opened_mongo: list[MongoStore]
) -> None:
    store = await MongoStore.open(mongo_uri_for(request, target), fresh_db_name())
    opened_mongo.append(store)
    assert store.migration is not None and "messages.text_search" in store.migration.indexes_created

    assert await create_missing_indexes(DOCUMENT_MODELS) == ()


async def test_mongo_refuses_a_database_of_a_newer_chatd_untouched(
    mongo_target: tuple[str, str], opened_mongo: list[MongoStore]
) -> None:
    _, uri = mongo_target
    name = fresh_db_name()
    store = await MongoStore.open(uri, name)
    opened_mongo.append(store)
    versions = store.database[SCHEMA_COLLECTION]
    await versions.update_one(
        {"_id": SCHEMA_DOCUMENT_ID}, {"$set": {"version": MONGO_SCHEMA_VERSION + 1}}
    )

    with pytest.raises(SchemaTooNew) as refused:
        await MongoStore.open(uri, name)
    message = str(refused.value)
    assert f"version {MONGO_SCHEMA_VERSION + 1}" in message
    assert f"knows ({MONGO_SCHEMA_VERSION})" in message
    stored = await versions.find_one({"_id": SCHEMA_DOCUMENT_ID})
    assert stored is not None and stored["version"] == MONGO_SCHEMA_VERSION + 1


@pytest.mark.parametrize(
    "target",
    xfail_on_nx(mongo_targets(), "nx-27017: a date set by an update ($set) is stored as a string"),
)
async def test_mongo_migration_dates_tokens_stored_before_ttl_indexes(
    target: str, request: pytest.FixtureRequest, opened_mongo: list[MongoStore]
) -> None:
    uri = mongo_uri_for(request, target)
    name = fresh_db_name()
    store = await MongoStore.open(uri, name)
    opened_mongo.append(store)
    # What the previous chatd stored: no schema version, no expiry dates.
    await store.database[SCHEMA_COLLECTION].delete_many({})
    expires_ms = now_ms() + 3_600_000
    await store.database["refresh_tokens"].insert_one(
        {"_id": "old", "family_id": "f", "user_id": "u", "created_at": 1, "expires_at": expires_ms}
    )
    await store.database["revoked_access_tokens"].insert_one(
        {"_id": "jti", "expires_at": expires_ms // 1000}
    )

    migrated = await MongoStore.open(uri, name)
    opened_mongo.append(migrated)
    assert migrated.migration is not None and migrated.migration.found == 0
    token = await migrated.database["refresh_tokens"].find_one({"_id": "old"})
    revoked = await migrated.database["revoked_access_tokens"].find_one({"_id": "jti"})
    assert token is not None and revoked is not None
    # BSON dates keep milliseconds and come back naive (UTC).
    assert token["expires_on"].replace(tzinfo=UTC) == expiry_date(expires_ms)
    assert revoked["expires_on"].replace(tzinfo=UTC) == expiry_date(expires_ms // 1000 * 1000)
    assert await migrated.get_refresh_token("old") is not None


async def test_mongo_expires_tokens_by_ttl_indexes_on_dates(
    mongo_target: tuple[str, str], opened_mongo: list[MongoStore]
) -> None:
    _, uri = mongo_target
    store = await MongoStore.open(uri, fresh_db_name())
    opened_mongo.append(store)
    for collection in ("refresh_tokens", "revoked_access_tokens"):
        indexes = await store.database[collection].index_information()
        ttl = [i for i in indexes.values() if list(i["key"]) == [("expires_on", 1)]]
        assert len(ttl) == 1 and ttl[0]["expireAfterSeconds"] == 0, indexes


# -- adapter selection -----------------------------------------------------------------


async def test_factory_opens_sqlite_in_the_data_dir_by_default(tmp_path: Path) -> None:
    async with open_store(Settings(data_dir=tmp_path / "data")) as store:
        assert isinstance(store, SqliteStore)
        await store.check()
    assert (tmp_path / "data" / "chatd.db").is_file()


async def test_factory_opens_mongodb_when_a_uri_is_set(
    mongo_target: tuple[str, str], opened_mongo: list[MongoStore]
) -> None:
    _, uri = mongo_target
    name = fresh_db_name()
    async with open_store(Settings(mongodb_uri=f"{uri.rstrip('/')}/{name}")) as store:
        assert isinstance(store, MongoStore)
        assert store.database.name == name
        await store.check()
    # Closed by the factory; reopen only to drop the database it created.
    opened_mongo.append(await MongoStore.open(uri, db_name=name))


async def test_migrate_store_migrates_sqlite_then_finds_it_current(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    first = await migrate_store(settings)
    assert (first.found, first.current) == (0, SCHEMA_VERSION)
    assert await migrate_store(settings) == type(first)(first.where, SCHEMA_VERSION, SCHEMA_VERSION)
    with sqlite3.connect(settings.sqlite_path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(SchemaTooNew, match=f"version {SCHEMA_VERSION + 1}, newer"):
        await migrate_store(settings)
