"""Account operations: register, log in, refresh, log out, change password.

Views stay thin (parse, call, render); the rules live here so the WebSocket
gateway and the REST API authenticate exactly the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace

from chatd.auth.devices import DeviceCookie, DeviceCookies
from chatd.auth.limits import BackoffLimit, Throttled, WindowLimit
from chatd.auth.passwords import PasswordHasher
from chatd.auth.throttle import LoginThrottle
from chatd.auth.tokens import (
    REFRESH_TOKEN_SECONDS,
    AccessTokens,
    InvalidToken,
    hash_refresh_token,
    new_refresh_token,
)
from chatd.fanout.user_events import Revoked, UserEvent
from chatd.models import AccessClaims, RefreshToken, User
from chatd.store import Conflict, Store
from chatd.util.clock import new_id, now_ms

logger = logging.getLogger(__name__)

GENERAL_ROOM = "general"


class BadCredentials(Exception):
    """One message for unknown user and wrong password alike."""

    def __init__(self) -> None:
        super().__init__("wrong username or password")


class UsernameTaken(Exception):
    pass


class InvalidRefresh(Exception):
    """The refresh token is unknown, expired, revoked or was already used."""


@dataclass(frozen=True, slots=True)
class Session:
    """What a successful register/login/refresh hands back to the client."""

    user: User
    access_token: str
    claims: AccessClaims
    refresh_token: str
    #: Set on register and log-in: marks this client as a device of the user's.
    device_cookie: DeviceCookie | None = None


@dataclass(frozen=True, slots=True)
class AbuseLimits:
    """The throttles of the account operations, shared by every node via the broker."""

    login: LoginThrottle
    #: Per client address.
    register: WindowLimit
    #: Per user: wrong current passwords.
    password: BackoffLimit
    devices: DeviceCookies


class AuthService:
    def __init__(
        self,
        *,
        store: Store,
        hasher: PasswordHasher,
        tokens: AccessTokens,
        limits: AbuseLimits,
        notify_user: Callable[[str, UserEvent], Awaitable[None]],
    ) -> None:
        self._store = store
        self._hasher = hasher
        self.tokens = tokens
        self._limits = limits
        self._notify_user = notify_user

    # -- sign-up and log-in ------------------------------------------------------
    async def register(self, username: str, password: str, address: str) -> Session:
        """Create the account; raise Throttled when `address` made too many lately."""
        wait = await self._limits.register.reserve(address)
        if wait:
            raise Throttled(wait, "too many accounts created from this address")
        if await self._store.get_user_by_name(username) is not None:
            raise UsernameTaken(username)
        password_hash = await self._hasher.hash(password)
        try:
            user = await self._store.create_user(username, password_hash)
        except Conflict:
            raise UsernameTaken(username) from None
        await self._store.add_member(GENERAL_ROOM, user.id)
        logger.info("registered user %s (%s)", user.username, user.id)
        return await self._device_session(user)

    async def login(
        self, username: str, password: str, address: str, cookies: Mapping[str, str]
    ) -> Session:
        """Check the password unless throttled (Throttled: not even checked).

        `cookies` may hold the user's device cookie from an earlier login, which
        lifts the account-wide limit for this client (see chatd.auth.throttle).
        """
        device = self._limits.devices.device(username, cookies)
        attempt = await self._limits.login.reserve(username, address, device)
        user = await self._store.get_user_by_name(username)
        ok = await self._hasher.verify(password, user.password_hash if user else None)
        if not ok or user is None:
            raise BadCredentials
        await self._limits.login.succeeded(attempt)
        return await self._device_session(user)

    # -- refresh tokens ------------------------------------------------------------
    async def refresh(self, raw_token: str) -> Session:
        """Rotate: the presented token is spent and a new one of the same family issued.

        A token presented a second time means someone else holds a copy: the
        whole family is revoked, logging out both the thief and the victim.
        """
        token_hash = hash_refresh_token(raw_token)
        now = now_ms()
        spent = await self._store.use_refresh_token(token_hash, now)
        if spent is None:
            known = await self._store.get_refresh_token(token_hash)
            if known is not None and known.used_at is not None and not known.revoked:
                logger.warning(
                    "refresh token reused for user %s; revoking family %s",
                    known.user_id,
                    known.family_id,
                )
                await self._store.revoke_refresh_family(known.family_id)
            raise InvalidRefresh
        if spent.expires_at <= now:
            raise InvalidRefresh
        user = await self._store.get_user(spent.user_id)
        if user is None:
            raise InvalidRefresh
        return await self._new_session(user, family_id=spent.family_id)

    async def logout(self, raw_token: str | None, claims: AccessClaims | None) -> None:
        """Revoke the refresh family and, if given, the access token until it expires."""
        if raw_token:
            known = await self._store.get_refresh_token(hash_refresh_token(raw_token))
            if known is not None:
                await self._store.revoke_refresh_family(known.family_id)
        if claims is not None:
            if claims.expires_at > now_ms() // 1000:
                await self._store.revoke_access_token(claims.jti, claims.expires_at)
            await self._notify(claims.user_id, Revoked(jti=claims.jti))

    async def change_password(self, user: User, current: str, new: str) -> Session:
        """Raise BadCredentials for a wrong current password, Throttled after too many."""
        wait = await self._limits.password.reserve(user.id)
        if wait:
            raise Throttled(wait, "too many wrong current passwords")
        if not await self._hasher.verify(current, user.password_hash):
            raise BadCredentials
        await self._limits.password.clear(user.id)
        version = await self._store.set_password_hash(user.id, await self._hasher.hash(new))
        await self._store.revoke_user_refresh_tokens(user.id)
        await self._notify(user.id, Revoked(version=version))
        fresh = await self._store.get_user(user.id)
        assert fresh is not None
        return await self._new_session(fresh, family_id=new_id())

    # -- access tokens -------------------------------------------------------------
    async def authenticate(self, token: str) -> tuple[User, AccessClaims]:
        """Decode and check an access token against revocations; raise InvalidToken."""
        claims = self.tokens.decode(token)
        user = await self._store.get_user(claims.user_id)
        if user is None:
            raise InvalidToken("unknown user")
        if claims.version != user.token_version:
            raise InvalidToken("token revoked (password changed)", expired=True)
        # The logout list is read from the store, not the broker: it must survive
        # a Redis restart without persistence, and authenticating must not need
        # Redis. The cost is one primary-key read on the store this call already
        # reads the user from. No broker cache in front: on a Redis deployment a
        # cache hit is a network round trip too, no cheaper than this read.
        if await self._store.is_access_token_revoked(claims.jti):
            raise InvalidToken("token revoked", expired=True)
        return user, claims

    # -- helpers ---------------------------------------------------------------------
    async def _device_session(self, user: User) -> Session:
        session = await self._new_session(user, family_id=new_id())
        return replace(session, device_cookie=self._limits.devices.issue(user.username))

    async def _new_session(self, user: User, family_id: str) -> Session:
        raw = new_refresh_token()
        now = now_ms()
        await self._store.add_refresh_token(
            RefreshToken(
                token_hash=hash_refresh_token(raw),
                family_id=family_id,
                user_id=user.id,
                created_at=now,
                expires_at=now + REFRESH_TOKEN_SECONDS * 1000,
            )
        )
        access, claims = self.tokens.issue(user.id, user.token_version)
        return Session(user=user, access_token=access, claims=claims, refresh_token=raw)

    async def _notify(self, user_id: str, event: UserEvent) -> None:
        """Tell every node's sockets of this user (they close on revocation)."""
        try:
            await self._notify_user(user_id, event)
        except Exception:
            logger.exception("could not publish revocation for user %s", user_id)
