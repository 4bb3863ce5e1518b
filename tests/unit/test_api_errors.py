"""REST answers domain refusals with the status of their code, in the contract's shape."""

from __future__ import annotations

import pytest

from chatd.errors import Forbidden, Invalid, LimitReached, NotFound, Refused
from chatd.util.jsonutil import loads
from chatd.web.errors import refusal_response


@pytest.mark.parametrize(
    ("refusal", "status"),
    [
        (NotFound("no such message in this room"), 404),
        (Forbidden("you can only edit your own messages"), 403),
        (Invalid("threadId names no message", fields={"threadId": ["Bad."]}), 422),
        (LimitReached("a message takes at most 50 different emoji"), 409),
        (Refused("rate_limited", "slow down", retry_after=1.2), 429),
        (Refused("something_new", "a code nobody mapped yet"), 400),
    ],
)
def test_each_refusal_gets_its_status_and_the_error_body(refusal: Refused, status: int):
    response = refusal_response(refusal)

    assert response.status == status
    assert response.text is not None
    error = loads(response.text)["error"]
    assert (error["code"], error["message"]) == (refusal.code, refusal.message)
    assert error.get("fields") == refusal.extra.get("fields")


def test_a_retry_after_becomes_the_header_in_whole_seconds():
    response = refusal_response(Refused("rate_limited", "slow down", retry_after=1.2))
    assert response.headers["Retry-After"] == "2"
