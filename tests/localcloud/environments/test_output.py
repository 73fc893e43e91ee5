"""When a call ends: at the runtime's answer inside the environment, not when this machine got
round to reading it (issue 11: 150 completions on 2 cores queued 50-340 ms after the handlers).

The pipe reader on its own, then real environments whose runtime is made slow to post its answer
(the handler swaps in a runtime client that sleeps first, as a loaded machine delays it): with
the platform model on, REPORT's Duration is the handler's; with it off, raw timings count the
delay.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator

import pytest

from pclab.localcloud.environments import EnvironmentManager
from pclab.localcloud.environments.environment import INIT_MARK_ID
from pclab.localcloud.environments.loop import EventLoopThread
from pclab.localcloud.environments.output import RETURNED_MARK, OutputPipe

from .conftest import MemorySink, checked_manager, make_spec
from .helpers import body, forkserver_constant, invoke

# The handler answers after 0.1 s of work; its runtime client then waits 0.6 s before posting.
SLOW_POST = """\
import time
import awslambdaric.lambda_runtime_client as lrc

class SlowPost:
    def __init__(self, inner):
        self.inner = inner
    def __getattr__(self, name):
        return getattr(self.inner, name)
    def post_invocation_result(self, *args):
        time.sleep(0.6)
        return self.inner.post_invocation_result(*args)

def handler(event, context):
    if not isinstance(lrc.runtime_client, SlowPost):
        lrc.runtime_client = SlowPost(lrc.runtime_client)
    time.sleep(0.1)
    return {"ok": True}
"""


def test_the_mark_is_the_same_on_both_sides() -> None:
    assert forkserver_constant("RETURNED_MARK") == RETURNED_MARK


def test_the_pipe_keeps_marks_out_of_the_log() -> None:
    loop = EventLoopThread("test-output")
    lines: list[str] = []
    read, write = os.pipe()
    pipe = OutputPipe(loop, lines.append)
    done = threading.Event()
    try:
        pipe.attach(read)
        os.write(
            write, b"hello\r  world\nno newline yet" + RETURNED_MARK + b"req-1 1700000000.25\n"
        )
        os.write(write, RETURNED_MARK + b"req-2 not-a-time\nlast\n")
        loop.call_soon(lambda: (pipe.drain(), done.set()))
        assert done.wait(5)
        assert lines == ["hello\n  world", "no newline yet", "last"]
        assert pipe.returned_at("req-1") == 1700000000.25
        assert pipe.returned_at("req-1") is None  # once
        assert pipe.returned_at("req-2") is None  # a mark cut short is no time
    finally:
        os.close(write)
        loop.call_soon(pipe.close)
        loop.stop()


def report_ms(sink: MemorySink, group: str, field: str) -> float:
    """A REPORT field in ms (``Duration``, ``Init Duration``) of the group's one call."""
    [report] = [m for m in sink.messages(group) if m.startswith("REPORT")]
    return float(report.split(f"\t{field}: ")[1].split(" ms")[0])


def waited_for_one_call(manager: EnvironmentManager, name: str, handler: str) -> float:
    """Seconds the caller waited for one call of a function made of ``handler``; telemetry
    flushed after it."""
    spec = make_spec(name, files={"app.py": handler}, tracing=True)
    started = time.monotonic()
    assert body(invoke(manager, spec)) == {"ok": True}
    waited = time.monotonic() - started
    manager.flush_telemetry()
    return waited


@pytest.fixture(params=["aws", "none"])
def model_manager(request: pytest.FixtureRequest, sink: MemorySink) -> Iterator[EnvironmentManager]:
    with checked_manager(sink, request.param) as mgr:
        yield mgr


def test_a_call_ends_when_its_runtime_answers_inside_the_environment(
    model_manager: EnvironmentManager, sink: MemorySink
) -> None:
    waited = waited_for_one_call(model_manager, "slowpost", SLOW_POST)
    duration = report_ms(sink, "/aws/lambda/slowpost", "Duration")
    assert waited >= 0.7  # the caller really waited for the slow post
    [service] = [seg for seg in sink.segments if seg.get("origin") == "AWS::Lambda"]
    if model_manager.platform.enabled:
        assert 100 <= duration < 400, duration  # the handler's 0.1 s, not the post's 0.6 s
        # and the trace says these times are modelled, for the report to say so
        assert service["metadata"] == {"pclab": {"platform_model": "aws"}}
        # the caller waited for the slow post; the trace's call ended before it
        assert waited - (service["end_time"] - service["start_time"]) >= 0.45
    else:
        assert duration >= 700, duration  # raw timings: what this machine took
        assert "metadata" not in service


# The handler module's init sleeps 0.2 s; its runtime client then asks for the first event 0.6 s
# late (a loaded machine's queueing between the handler import and /next).
SLOW_FIRST_NEXT = """\
import time
import awslambdaric.lambda_runtime_client as lrc

time.sleep(0.2)
_next = lrc.LambdaRuntimeClient.wait_next_invocation

def slow_next(self):
    lrc.LambdaRuntimeClient.wait_next_invocation = _next
    time.sleep(0.6)
    return _next(self)

lrc.LambdaRuntimeClient.wait_next_invocation = slow_next

def handler(event, context):
    return {"ok": True}
"""


def test_an_init_ends_when_its_runtime_is_done_inside_the_environment(
    model_manager: EnvironmentManager, sink: MemorySink
) -> None:
    waited = waited_for_one_call(model_manager, "slownext", SLOW_FIRST_NEXT)
    init_ms = report_ms(sink, "/aws/lambda/slownext", "Init Duration")
    assert waited >= 0.8  # the caller really waited for the late /next
    [function] = [s for s in sink.segments if s.get("origin") == "AWS::Lambda::Function"]
    [initialization] = [s for s in function["subsegments"] if s["name"] == "Initialization"]
    traced_ms = (initialization["end_time"] - initialization["start_time"]) * 1000
    if model_manager.platform.enabled:
        # runtime start (modelled, 82 ms) + the module's 0.2 s, not the late /next's 0.6 s
        assert 250 <= init_ms < 600, init_ms
    else:
        assert init_ms >= 800, init_ms  # raw timings: what this machine took
    assert abs(traced_ms - init_ms) < 5  # X-Ray's Initialization says the same


def test_the_init_mark_is_the_same_on_both_sides() -> None:
    assert forkserver_constant("INIT_MARK_ID") == INIT_MARK_ID
