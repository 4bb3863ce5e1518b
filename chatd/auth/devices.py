"""Device cookies: a browser that logged in as a user before is known to be theirs.

OWASP's "Slow Down Online Guessing Attacks with Device Cookies": after a
successful login the client gets a cookie, signed by the server, naming that
user and a random device id. A later login for the same user that presents it
is throttled per device instead of by the account-wide ceiling that stops
distributed guessing, so an attacker hammering a name cannot lock its owner
out of the devices they already use.

The cookie's name is derived from the user's name key, so one browser keeps a
cookie per account it logs in to and a login reads just the one that matters.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from chatd.store import username_key

COOKIE_PREFIX = "chatd_device_"
#: Sent only to the account endpoints (login reads it), like the refresh cookie.
COOKIE_PATH = "/api/auth"
#: A device stays known for a year after its last successful login.
COOKIE_SECONDS = 365 * 24 * 3600
#: Separates the cookie key from the access-token key derived from the same secret.
_KEY_LABEL = b"chatd device cookie v1"


@dataclass(frozen=True, slots=True)
class DeviceCookie:
    name: str
    value: str


class DeviceCookies:
    def __init__(self, secret_key: str) -> None:
        self._key = hmac.new(secret_key.encode(), _KEY_LABEL, hashlib.sha256).digest()

    def cookie_name(self, username: str) -> str:
        # Keyed, so the name alone does not tell which accounts a browser uses.
        tag = self._mac(f"name|{username_key(username)}")[:16]
        return COOKIE_PREFIX + tag

    def issue(self, username: str) -> DeviceCookie:
        """A cookie naming a fresh device id, signed for this user."""
        device = secrets.token_urlsafe(16)
        value = f"{device}.{self._mac(f'device|{username_key(username)}|{device}')}"
        return DeviceCookie(self.cookie_name(username), value)

    def device(self, username: str, cookies: Mapping[str, str] | None) -> str | None:
        """The device id of a valid cookie for this user among `cookies`, else None."""
        if not cookies:
            return None
        value = cookies.get(self.cookie_name(username), "")
        device, _, mac = value.partition(".")
        if not device or not mac:
            return None
        expected = self._mac(f"device|{username_key(username)}|{device}")
        return device if hmac.compare_digest(mac, expected) else None

    def _mac(self, text: str) -> str:
        digest = hmac.new(self._key, text.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
