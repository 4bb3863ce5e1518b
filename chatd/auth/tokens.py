"""Access tokens (JWT, HS256) and opaque refresh tokens."""

from __future__ import annotations

import hashlib
import secrets
import time

import jwt

from chatd.models import AccessClaims

ISSUER = "chatd"
AUDIENCE = "chatd"
#: Short-lived: a leaked access token is worth 15 minutes; refresh renews it.
ACCESS_TOKEN_SECONDS = 15 * 60
#: Tolerated clock difference between nodes.
CLOCK_SKEW_SECONDS = 5
#: A refresh cookie lives a month; each use rotates it.
REFRESH_TOKEN_SECONDS = 30 * 24 * 3600


class InvalidToken(Exception):
    """The token is malformed, forged, expired or meant for someone else."""

    def __init__(self, message: str, *, expired: bool = False) -> None:
        super().__init__(message)
        self.expired = expired




class AccessTokens:
    """Issues and checks access tokens. Decoding pins HS256: no `none`, no RS/HS confusion."""

    def __init__(self, secret: str, lifetime: int = ACCESS_TOKEN_SECONDS) -> None:
        self._secret = secret
        self.lifetime = lifetime

    def issue(
        self, user_id: str, version: int = 0, now: float | None = None
    ) -> tuple[str, AccessClaims]:
        issued = int(time.time() if now is None else now)
        claims = AccessClaims(
            user_id=user_id,
            jti=secrets.token_urlsafe(12),
            issued_at=issued,
            expires_at=issued + self.lifetime,
            version=version,
        )
        payload = {
            "sub": user_id,
            "iat": claims.issued_at,
            "nbf": claims.issued_at,
            "exp": claims.expires_at,
            "jti": claims.jti,
            "iss": ISSUER,
            "aud": AUDIENCE,
            "ver": claims.version,
        }
        return jwt.encode(payload, self._secret, algorithm="HS256"), claims

    def decode(self, token: str) -> AccessClaims:
        try:
            payload = jwt.decode(
                token,
                self._secret,
                algorithms=["HS256"],
                audience=AUDIENCE,
                issuer=ISSUER,
                leeway=CLOCK_SKEW_SECONDS,
                options={"require": ["sub", "iat", "exp", "jti", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidToken("token expired", expired=True) from None
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"invalid token: {exc}") from None
        sub, jti, iat, exp = (payload.get(k) for k in ("sub", "jti", "iat", "exp"))
        version = payload.get("ver", 0)
        if not (isinstance(sub, str) and isinstance(jti, str)):
            raise InvalidToken("invalid token: malformed claims")
        if not (isinstance(iat, int) and isinstance(exp, int) and isinstance(version, int)):
            raise InvalidToken("invalid token: malformed claims")
        return AccessClaims(user_id=sub, jti=jti, issued_at=iat, expires_at=exp, version=version)


def new_refresh_token() -> str:
    """An opaque, unguessable refresh token (256 bits)."""
    return secrets.token_urlsafe(32)


def hash_refresh_token(token: str) -> str:
    """What the store keeps: a stolen database yields no usable refresh token."""
    return hashlib.sha256(token.encode()).hexdigest()
