"""Step Functions: GetExecutionHistory pages as AWS pages it.

moto 5.2.5 answers GetExecutionHistory with the whole history every time: it ignores
``maxResults``, ``reverseOrder`` and ``nextToken``. Besides differing from AWS (pages of at most
``maxResults``, 100 by default, newest first on ``reverseOrder``, a ``nextToken`` while more
remain), every call then serialised every event through moto's generic serializer: during a
150-item inline run (about 1,100 events), that was 25 % of the local cloud's GIL time (py-spy
``--gil``), stalling the Lambda calls the run measures while `pclab run` read its progress.

The token names the last event id returned (event ids are 1, 2, ... in order), so a page read
while the execution adds events neither skips nor repeats one.

moto internals read, and why: ``StepFunctionResponse.get_execution_history`` (moto's answer, an
``ActionResult`` whose ``result["events"]`` is the whole history, oldest first),
``StepFunctionResponse._get_param``, ``moto.core.responses.ActionResult`` (the page, in moto's
answer type), ``moto.stepfunctions.exceptions.InvalidToken`` and ``ValidationException``.

Imports: moto only inside functions (start-up cost).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from pclab.localcloud.moto._patching import _patch

DEFAULT_PAGE = 100  # AWS: "The default is 100 and the maximum allowed page size is 1000."
MAX_PAGE = 1000


def encode_token(direction: str, last_id: int) -> str:
    return base64.urlsafe_b64encode(f"{direction}:{last_id}".encode()).decode()


def decode_token(token: str, direction: str) -> int:
    """The last event id a page returned; ValueError for a token this history did not make."""
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as error:
        raise ValueError(token) from error
    made_for, _, last = text.partition(":")
    if made_for != direction or not last.isdigit():
        raise ValueError(token)
    return int(last)


def page_of(
    events: list[dict[str, Any]], *, reverse: bool, max_results: int, token: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of ``events`` (oldest first, ids ascending) and the token of the next, if any."""
    direction = "reverse" if reverse else "forward"
    ordered = list(reversed(events)) if reverse else events
    if token is not None:
        last = decode_token(token, direction)
        ordered = [e for e in ordered if (e["id"] < last if reverse else e["id"] > last)]
    page = ordered[:max_results]
    more = len(ordered) > max_results
    return page, encode_token(direction, int(page[-1]["id"])) if more and page else None


def _install_history() -> None:
    from moto.core.responses import ActionResult
    from moto.stepfunctions.exceptions import InvalidToken, ValidationException
    from moto.stepfunctions.responses import StepFunctionResponse

    original = StepFunctionResponse.get_execution_history

    def get_execution_history(self: Any) -> Any:
        """moto's history, cut to the page the request asks for (before it is serialised)."""
        raw_max = self._get_param("maxResults")
        max_results = int(raw_max) if raw_max not in (None, "", 0) else DEFAULT_PAGE
        if not 0 < max_results <= MAX_PAGE:
            raise ValidationException(
                f"1 validation error detected: Value '{raw_max}' at 'maxResults' failed to "
                f"satisfy constraint: Member must have value less than or equal to {MAX_PAGE}"
            )
        result = original(self)
        events = list(result.result.get("events", [])) if isinstance(result.result, dict) else []
        try:
            page, next_token = page_of(
                events,
                reverse=bool(self._get_param("reverseOrder")),
                max_results=max_results,
                token=self._get_param("nextToken"),
            )
        except ValueError:
            raise InvalidToken("the nextToken was not made by this history") from None
        return ActionResult({"events": page, **({"nextToken": next_token} if next_token else {})})

    _patch(StepFunctionResponse, "get_execution_history", get_execution_history)
