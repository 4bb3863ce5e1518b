"""FrameRouter: dispatch each incoming frame by `type` to its registered handler.

The table is built once at start-up from the `chatd.handlers` entry points
(built-ins use the same path as third-party plugins); a frame type claimed
twice stops start-up naming both sources. Validation, membership and rate
limits are checked here, once, before any handler runs; whatever a handler
raises becomes an `error` frame for that `ref` - the socket and node live on.
A backend outage is `unavailable` (with `retryAfter`) and a full disk
`storage_full`, never `internal`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from marshmallow import Schema, ValidationError

from chatd.errors import Refused, StorageFull, Unavailable
from chatd.fanout.connection import Connection
from chatd.handlers.base import FrameContext, Handler, RateLimit
from chatd.observability.metrics import UNKNOWN_TYPE
from chatd.realtime.services import Services
from chatd.util.jsonutil import JSONDecodeError, loads
from chatd.util.outages import OutageLog
from chatd.wire import frames

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "chatd.handlers"
#: Forget a user's rate-limit bucket after this long without frames (memory bound).
_BUCKET_IDLE_SECONDS = 300.0


class HandlerRegistrationError(Exception):
    """A handler could not be registered (duplicate type, not a Handler, import error)."""


@dataclass(frozen=True, slots=True)
class HandlerSpec:
    """A handler class and where it came from (for error messages)."""

    cls: type[Handler]
    source: str


def discover_handlers(
    group: str = ENTRY_POINT_GROUP, *, distributions: Iterable[str] | None = None
) -> list[HandlerSpec]:
    """Load every handler class registered under the entry-point group.

    `distributions` limits discovery to those packages (tests use it to load
    exactly the plugins they mean to, whatever else is installed).
    """
    wanted = None if distributions is None else {d.lower() for d in distributions}
    specs = []
    for ep in sorted(entry_points(group=group), key=lambda e: (e.value, e.name)):
        dist = ep.dist.name if ep.dist is not None else "unknown distribution"
        if wanted is not None and dist.lower() not in wanted:
            continue
        source = f"{ep.value} (entry point {ep.name!r} of {dist})"
        try:
            cls = ep.load()
        except Exception as exc:
            raise HandlerRegistrationError(f"cannot load handler {source}: {exc}") from exc
        specs.append(HandlerSpec(cls, source))
    return specs


def builtin_source(cls: type[Handler]) -> HandlerSpec:
    return HandlerSpec(cls, f"{cls.__module__}:{cls.__qualname__}")


class _Bucket:
    __slots__ = ("stamp", "tokens")

    def __init__(self, tokens: float, stamp: float) -> None:
        self.tokens = tokens
        self.stamp = stamp


class FrameRouter:
    def __init__(
        self,
        specs: Iterable[HandlerSpec],
        services: Services,
        *,
        outages: OutageLog | None = None,
    ) -> None:
        self._services = services
        self._outages = outages or OutageLog(logger)
        self._table: dict[str, tuple[Handler, str, Schema]] = {}
        for spec in specs:
            cls = spec.cls
            if not (isinstance(cls, type) and issubclass(cls, Handler)):
                raise HandlerRegistrationError(f"{spec.source} is not a chatd Handler class")
            frame_type = getattr(cls, "frame_type", None)
            if not isinstance(frame_type, str) or not frame_type:
                raise HandlerRegistrationError(f"{spec.source} declares no frame_type")
            if frame_type in self._table:
                raise HandlerRegistrationError(
                    f"frame type {frame_type!r} is registered twice: by "
                    f"{self._table[frame_type][1]} and by {spec.source}"
                )
            # One schema instance per handler, built once: marshmallow schemas
            # are reusable, and building one per frame showed up in profiles.
            self._table[frame_type] = (cls(services), spec.source, cls.schema())
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._last_prune = time.monotonic()

    @property
    def frame_types(self) -> list[str]:
        return sorted(self._table)

    async def dispatch(self, conn: Connection, raw: bytes | str) -> None:
        """Handle one text frame from `conn`; every failure is answered, never raised."""
        try:
            frame = loads(raw)
        except JSONDecodeError:
            conn.events.received(UNKNOWN_TYPE)
            conn.send(frames.error("invalid", "frame is not valid JSON"))
            return
        if not isinstance(frame, dict):
            conn.events.received(UNKNOWN_TYPE)
            conn.send(frames.error("invalid", "frame must be a JSON object"))
            return
        frame_type = frame.pop("type", None)
        entry = self._table.get(frame_type) if isinstance(frame_type, str) else None
        # Only served types name a series: a client picks the type.
        conn.events.received(frame_type if entry is not None else UNKNOWN_TYPE)
        ref = frame.pop("ref", None)
        if ref is not None and not isinstance(ref, str | int):
            conn.send(frames.error("invalid", "ref must be a string", fields={"ref": ["Bad."]}))
            return
        ref_str = str(ref) if ref is not None else None
        if not isinstance(frame_type, str):
            conn.send(
                frames.error("invalid", "frame has no type", ref_str, fields={"type": ["Missing."]})
            )
            return
        if entry is None:
            conn.send(frames.error("unknown_type", f"unknown frame type {frame_type!r}", ref_str))
            return
        handler, _, schema = entry
        try:
            payload: dict[str, Any] = schema.load(frame)
        except ValidationError as exc:
            fields = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
            conn.send(frames.error("invalid", "some fields are invalid", ref_str, fields=fields))
            return
        if handler.requires_membership and payload.get("room") not in conn.rooms:
            conn.send(frames.error("forbidden", "you are not a member of that room", ref_str))
            return
        limit = handler.current_rate_limit()
        if limit is not None:
            retry_after = self._spend(conn.user.id, frame_type, limit)
            if retry_after > 0:
                conn.send(
                    frames.error(
                        "rate_limited",
                        f"too many {frame_type} frames; retry in {retry_after:.1f} s",
                        ref_str,
                        retry_after=retry_after,
                    )
                )
                return
        ctx = FrameContext(conn=conn, services=self._services, ref=ref_str)
        try:
            await handler.handle(ctx, payload)
        except Refused as exc:
            conn.send(frames.error(exc.code, exc.message, ref_str, **exc.extra))
        except Unavailable as exc:
            self._outages.note(exc, f"{frame_type!r} frame")
            conn.send(frames.unavailable(exc, ref_str))
        except StorageFull as exc:
            self._outages.note(exc, f"{frame_type!r} frame")
            conn.send(frames.storage_full(exc, ref_str))
        except Exception:
            logger.exception("handler for %r failed (user %s)", frame_type, conn.user.id)
            conn.send(frames.error("internal", "the server failed to handle this frame", ref_str))

    def spend(self, user_id: str, frame_type: str) -> float:
        """Count one `frame_type` frame that arrived another way (hello's `resume`):
        0 if allowed, else seconds until the frame type's limit allows one."""
        entry = self._table.get(frame_type)
        limit = None if entry is None else entry[0].current_rate_limit()
        return 0.0 if limit is None else self._spend(user_id, frame_type, limit)

    def _spend(self, user_id: str, frame_type: str, limit: RateLimit) -> float:
        """Take one token; return 0 if allowed, else seconds until one is available."""
        now = time.monotonic()
        if now - self._last_prune > _BUCKET_IDLE_SECONDS:
            self._prune(now)
        key = (user_id, frame_type)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(float(limit.burst), now)
        bucket.tokens = min(
            float(limit.burst), bucket.tokens + (now - bucket.stamp) * limit.per_second
        )
        bucket.stamp = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / limit.per_second

    def _prune(self, now: float) -> None:
        self._last_prune = now
        idle = [k for k, b in self._buckets.items() if now - b.stamp > _BUCKET_IDLE_SECONDS]
        for key in idle:
            del self._buckets[key]
