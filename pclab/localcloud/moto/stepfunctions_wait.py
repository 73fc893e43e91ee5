"""Step Functions: a Wait state with ``Timestamp``/``TimestampPath`` ends at that UTC time.

Arrival-shaped load (docs/execute.md "arrivals") stamps each item with an absolute ``startAt``
that the item processor's Wait reaches with ``TimestampPath``, so every call arrives at its
offset from the execution's start however late its child started. moto 5.2.5's wait
(``Timestamp._get_wait_seconds`` with ``WaitFunction._wait_interval``) gets that time wrong
twice, so the patch replaces how a timestamp Wait runs (``Timestamp._eval_body``, which
``TimestampPath`` inherits):

* it subtracts ``datetime.now()``, the machine's *local* time, from the UTC timestamp: on a
  machine east of UTC every wait is skipped (all calls at once), west of it waits hours;
* it waits ``int(seconds)``, so it wakes up to a second *before* the time (the timestamp is
  already truncated to the second, as on AWS: "Step Functions considers the time value up to
  seconds and truncates milliseconds").

Ours waits until the whole second of the timestamp in UTC, and a time already passed goes on at
once (as AWS does). A stopped execution ends the wait as in moto (``program_state_event``).

moto internals read, and why: ``Timestamp._from_timestamp_string`` (moto's parse and check of
the format, truncated to the second), ``Timestamp._create_failure_event`` (its ``States.Runtime``
failure for a malformed time, which ``TimestampPath`` words as its own), ``Timestamp.string``
(the literal or the path, evaluated onto ``env.stack``), ``FailureEventException``, and the
environment's ``is_running`` and ``program_state_event``.

Imports: moto only inside functions (start-up cost).
"""

from __future__ import annotations

import time
from datetime import UTC
from typing import Any

from pclab.localcloud.moto._patching import _patch

WAIT = "moto.stepfunctions.parser.asl.component.state.wait.wait_function"


def wait_until(env: Any, deadline: float) -> None:
    """Block until ``deadline`` (epoch seconds) or until the execution stops running."""
    while env.is_running():
        remaining = deadline - time.time()
        if remaining <= 0:
            return
        env.program_state_event.wait(remaining)


def _install_wait() -> None:
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function import timestamp

    def eval_body(self: Any, env: Any) -> None:
        """Wait until the timestamp, read as UTC to the second; a past one goes on at once."""
        self.string.eval(env=env)
        text = env.stack.pop()
        parsed = self._from_timestamp_string(timestamp=text) if isinstance(text, str) else None
        if parsed is None:
            raise FailureEventException(self._create_failure_event(env, text))
        wait_until(env, parsed.replace(tzinfo=UTC).timestamp())

    _patch(timestamp.Timestamp, "_eval_body", eval_body)
