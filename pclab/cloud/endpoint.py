"""Is the endpoint still answering? A bound on how long the runner waits for one that is not.

boto3 alone waits a long time for an endpoint that has gone: each call retries (8 attempts,
adaptive mode) and each attempt may wait a connect and a read timeout, and the runner's polling
loops used to treat every failure as transient and poll again, forever (issue 13: the local
cloud killed mid-run left ``pclab run`` waiting). :class:`EndpointWatch` is hooked into every
client's retry decision (botocore's ``needs-retry`` event, emitted after each attempt): any HTTP
answer below 500 counts as the endpoint answering, and once it has not answered for
``timeout_seconds`` the next failed attempt raises :class:`EndpointLost` instead of retrying.
From then on every failure raises at once, so stopping and saving cost no further waits.

:class:`EndpointLost` is deliberately not a botocore error: code that turns an AWS error into
"this source is absent" must not swallow it and carry on polling.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import (
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

DEFAULT_TIMEOUT_SECONDS = 60.0
# The error codes after which waiting cannot help: the credentials expired or were refused, or
# what we follow is gone (an endpoint that lost its state: a local cloud keeps none across
# restarts).
CREDENTIAL_CODES = frozenset(
    {
        "ExpiredToken",
        "ExpiredTokenException",
        "RequestExpired",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "AccessDenied",
        "AccessDeniedException",
    }
)
GONE_CODES = frozenset({"ExecutionDoesNotExist", "StateMachineDoesNotExist"})
_UNREACHABLE = (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError)


class EndpointLost(Exception):
    """The endpoint stopped answering (or refuses for good); ``str()`` is one line."""


def request_timeouts(timeout_seconds: float) -> tuple[float, float]:
    """(connect, read) timeouts of one HTTP attempt, so that one blocked attempt cannot push
    the end much past the bound: a quarter of it, within botocore's defaults (10 s, 60 s)."""
    quarter = timeout_seconds / 4.0
    return max(1.0, min(10.0, quarter)), max(2.0, min(60.0, quarter))


@dataclass
class EndpointWatch:
    """When the endpoint last answered, and what the runner was doing (for the message)."""

    endpoint: str  # the URL, or "AWS (<region>)"
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    clock: Callable[[], float] = time.monotonic
    doing: str = "talking to it"
    lost: str | None = None  # the message, once lost
    # When the first attempt that has not been answered was sent; None while the endpoint
    # answers. Silence counts from a request, not from when the clients were made: a runner
    # that spent minutes on something else before its first call has not been kept waiting.
    silent_since: float | None = field(default=None)
    _attempt_sent: float | None = field(default=None, repr=False)

    def sending(self, **_: Any) -> None:
        """botocore ``before-send``: the attempt's start, where a silence would begin."""
        self._attempt_sent = self.clock()

    def answered(self) -> None:
        self.silent_since = None

    def unanswered(self) -> None:
        if self.silent_since is None:
            sent = self._attempt_sent
            self.silent_since = self.clock() if sent is None else sent

    def silent_seconds(self) -> float:
        return 0.0 if self.silent_since is None else self.clock() - self.silent_since

    def declare_lost(self, message: str) -> EndpointLost:
        self.lost = self.lost or message
        return EndpointLost(self.lost)

    def unreachable(self, detail: str, operation: str | None = None) -> EndpointLost:
        call = f" ({operation})" if operation else ""
        return self.declare_lost(
            f"the endpoint {self.endpoint} stopped answering while {self.doing}{call}: no "
            f"answer for {self.silent_seconds():.0f} s (last error: {detail})"
        )

    def check(self, detail: str) -> None:
        """Raise :class:`EndpointLost` if the endpoint has been silent past the bound."""
        if self.lost is not None:
            raise EndpointLost(self.lost)
        self.unanswered()
        if self.silent_seconds() >= self.timeout_seconds:
            raise self.unreachable(detail)

    # botocore: needs-retry.<service>.<operation>, after every attempt (success included)
    def on_attempt(
        self,
        response: Any = None,
        caught_exception: Exception | None = None,
        operation: Any = None,
        attempts: int = 1,
        **_: Any,
    ) -> float | None:
        """None: botocore's retry handler decides. A number: retry after that many seconds.

        For an attempt the endpoint did not answer, this watch decides instead of botocore's
        handler: retry with a short backoff (0.5 s doubling, at most 4 s and never past the
        bound) for as long as the bound allows, then raise. botocore's own backoff may sleep
        20 s and its attempt count may run out long before (or after) the bound.
        """
        if caught_exception is None and response is not None:
            status = getattr(response[0], "status_code", 200)
            if status < 500:
                self.answered()
                return None
            detail = f"HTTP {status}"
        elif isinstance(caught_exception, (*_UNREACHABLE, ConnectionClosedError)):
            detail = " ".join(str(caught_exception).split())
        else:
            return None  # not about reachability: botocore decides as usual
        if self.lost is not None:
            raise EndpointLost(self.lost)
        self.unanswered()
        silent = self.silent_seconds()
        if silent >= self.timeout_seconds:
            raise self.unreachable(detail, getattr(operation, "name", None))
        backoff: float = min(0.5 * 2.0 ** max(0, int(attempts) - 1), 4.0)
        return max(0.05, min(backoff, self.timeout_seconds - silent))

    def install(self, client: Any) -> None:
        """Hook this watch into a boto3 client (first, before botocore's own retry handler)."""
        client.meta.events.register_first("needs-retry", self.on_attempt)
        client.meta.events.register("before-send", self.sending)
