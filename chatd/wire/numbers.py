"""Integer fields a store can take as they are, for queries, bodies and frames.

Both stores keep integers as signed 64-bit (SQLite INTEGER, BSON int64): a
larger number reached the driver and raised OverflowError there, a 500 or an
`internal` frame instead of a clear answer. Every number a client sends that
can reach a store (seqs, times) is declared with `stored_int`, so it is
refused like any other invalid field: 422 or `invalid`, with `fields` naming it.
"""

from __future__ import annotations

from typing import Any, Final

from marshmallow import fields, validate

#: The largest integer SQLite and MongoDB store (2**63 - 1).
MAX_STORED_INT: Final = 2**63 - 1


def stored_int(*, minimum: int = 0, **kwargs: Any) -> fields.Integer:
    """An integer from `minimum` (default 0: seqs and times are never negative)
    up to MAX_STORED_INT; other marshmallow options (required, strict...) pass through."""
    return fields.Integer(validate=validate.Range(min=minimum, max=MAX_STORED_INT), **kwargs)
