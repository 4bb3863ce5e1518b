"""Password hashing with bcrypt, off the event loop.

bcrypt reads only the first 72 bytes of its input. Rather than truncate silently,
every password is pre-hashed: bcrypt(base64(SHA-256(password))) - the scheme
Dropbox and passlib's `bcrypt_sha256` use. The 44-byte base64 digest fits, has
no NUL bytes, and keeps all of a long password significant.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib

import bcrypt

#: What follows bcrypt's 29 characters of version, cost and salt: the 23-byte digest
#: in 31 characters of its base64 alphabet.
_DIGEST_CHARS = 31


def _prehash(password: str) -> bytes:
    return base64.b64encode(hashlib.sha256(password.encode()).digest())


class PasswordHasher:
    """Hashes and verifies passwords; each call costs one bcrypt in a worker thread."""

    def __init__(self, rounds: int) -> None:
        self._rounds = rounds
        # Verified against when the username is unknown, so that case costs the
        # same bcrypt as a wrong password and timing does not reveal accounts.
        # A well-formed hash with a fresh salt at the same cost and an all-zero
        # digest: checking it runs the full bcrypt, and no password hashes to it
        # (one in 2^184). Hashing a dummy password here instead cost one bcrypt at
        # every start (~0.3 s at 12 rounds, over a third of the time to /healthz).
        self._dummy_hash = bcrypt.gensalt(rounds) + b"." * _DIGEST_CHARS

    async def hash(self, password: str) -> str:
        salt = bcrypt.gensalt(self._rounds)
        hashed = await asyncio.to_thread(bcrypt.hashpw, _prehash(password), salt)
        return hashed.decode()

    async def verify(self, password: str, password_hash: str | None) -> bool:
        """Check a password; with no hash (unknown user) burn the same cost and say no."""
        stored = password_hash.encode() if password_hash else self._dummy_hash
        ok = await asyncio.to_thread(bcrypt.checkpw, _prehash(password), stored)
        return ok and password_hash is not None
