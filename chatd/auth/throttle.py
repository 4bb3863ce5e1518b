"""Login throttling that holds under concurrency and across nodes.

Every attempt is reserved (see chatd.auth.limits) before its password is
checked, under the name key the user look-up itself uses (so "SAM", and "sam"
spelled with U+017F for its "s", share "sam"'s limits). Following OWASP's
device-cookie scheme, an attempt is limited by:

- a client that presents a valid device cookie for the user (it logged in as
  them before): its own per-device back-off, nothing else, so an attacker
  hammering the name cannot lock the owner out of devices they already use;
- any other client: a back-off per account and address (a few free failures,
  then 1 s, 2 s, 4 s, ...), a back-off per address across every account
  (guessing many names from one place), and a ceiling per account for all
  untrusted clients together (guessing one name from many places).

A success clears its own back-off and gives its attempt back to the shared
allowances, which therefore count failures (and attempts under way).
"""

from __future__ import annotations

from dataclasses import dataclass

from chatd.auth.limits import BackoffLimit, Throttled, WindowLimit
from chatd.broker.counters import Counters
from chatd.store import username_key


@dataclass(frozen=True, slots=True)
class LoginLimits:
    """The allowances (chatd.settings: CHATD_LOGIN_*); the same on every node."""

    #: Failures per account and address, and per known device, before back-off.
    free_failures: int
    #: Failures per address across accounts before back-off.
    address_failures: int
    #: Failures per account from clients without its device cookie, per window.
    account_failures: int
    #: Seconds failures are remembered; also the longest back-off.
    window: float


@dataclass(frozen=True, slots=True)
class LoginAttempt:
    """One reserved attempt; LoginThrottle.succeeded keeps a success from counting."""

    name: str
    address: str
    device: str | None


class LoginThrottle:
    def __init__(self, counters: Counters, prefix: str, limits: LoginLimits) -> None:
        window = limits.window
        self._device = BackoffLimit(
            counters, f"{prefix}login:device", limits.free_failures, window, window
        )
        self._account_address = BackoffLimit(
            counters, f"{prefix}login:user-addr", limits.free_failures, window, window
        )
        self._address = BackoffLimit(
            counters, f"{prefix}login:addr", limits.address_failures, window, window
        )
        self._account = WindowLimit(
            counters, f"{prefix}login:user", limits.account_failures, window
        )

    async def reserve(self, username: str, address: str, device: str | None) -> LoginAttempt:
        """Count the attempt, or raise Throttled without it counting (nor its password checked)."""
        name = username_key(username)
        attempt = LoginAttempt(name, address, device)
        if device is not None:
            wait = await self._device.reserve(device)
            if wait:
                raise Throttled(wait, "too many failed logins from this device")
            return attempt
        wait = await self._address.reserve(address)
        if wait:
            raise Throttled(wait, "too many failed logins from this address")
        wait = await self._account_address.reserve(f"{name}|{address}")
        if wait:
            await self._address.refund(address)
            raise Throttled(wait, "too many failed logins")
        wait = await self._account.reserve(name)
        if wait:
            await self._account_address.refund(f"{name}|{address}")
            await self._address.refund(address)
            raise Throttled(wait, "too many failed logins for this account from new devices")
        return attempt

    async def succeeded(self, attempt: LoginAttempt) -> None:
        if attempt.device is not None:
            await self._device.clear(attempt.device)
            return
        await self._account_address.clear(f"{attempt.name}|{attempt.address}")
        await self._address.refund(attempt.address)
        await self._account.refund(attempt.name)
