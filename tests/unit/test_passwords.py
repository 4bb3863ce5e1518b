"""Password hashing: the bcrypt cost is spent the same for unknown users and wrong passwords."""

from __future__ import annotations

import statistics
import time

from chatd.auth.passwords import PasswordHasher


async def test_unknown_user_costs_the_same_bcrypt_as_a_wrong_password():
    hasher = PasswordHasher(rounds=10)
    stored = await hasher.hash("the right password")

    async def timed(password_hash: str | None) -> float:
        started = time.perf_counter()
        assert not await hasher.verify("a wrong password", password_hash)
        return time.perf_counter() - started

    # Interleaved, so load on a shared machine hits both sides alike. Without
    # the dummy hash an unknown user would cost ~0 ms against ~50 ms: a ratio
    # near 0, far outside these bounds.
    wrong, unknown = [], []
    for _ in range(7):
        wrong.append(await timed(stored))
        unknown.append(await timed(None))
    ratio = statistics.median(unknown) / statistics.median(wrong)
    assert 0.5 < ratio < 2.0, (wrong, unknown)


async def test_hashes_verify_and_are_salted():
    hasher = PasswordHasher(rounds=4)
    first, second = await hasher.hash("same password"), await hasher.hash("same password")
    assert first != second
    assert await hasher.verify("same password", first)
    assert not await hasher.verify("other password", first)


async def test_a_new_hasher_spends_no_bcrypt_while_an_unknown_user_still_costs_one():
    # Built at every start: a bcrypt at the default 12 rounds (~0.3 s) used to
    # lengthen each restart. Compared, not timed against a constant.
    started = time.perf_counter()
    hasher = PasswordHasher(rounds=12)
    built = time.perf_counter() - started

    started = time.perf_counter()
    assert not await hasher.verify("any password", None)
    unknown_user = time.perf_counter() - started

    assert built < unknown_user / 20, (built, unknown_user)
