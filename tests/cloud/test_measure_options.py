"""pclab run --function/--url: what is refused before anything is deployed or sent."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from pclab.cloud import loadgen
from pclab.cloud.errors import RunnerError
from pclab.cloud.http_run import check_url
from pclab.cloud.measure import run_mode


def mode(**given: object) -> str:
    options: dict[str, object] = dict(
        stack=None, function=None, url=None, together=False, payload=None, method=None
    )
    options.update(given)
    return run_mode(**options)  # type: ignore[arg-type]


def test_one_thing_to_measure() -> None:
    assert mode(stack="pclab") == "stack"
    assert mode(function="fn:live") == "function"
    assert mode(url="http://localhost:1/x", function="fn:live") == "url"
    with pytest.raises(RunnerError, match="say what to measure"):
        mode()
    with pytest.raises(RunnerError, match="give one of them"):
        mode(stack="pclab", function="fn")
    with pytest.raises(RunnerError, match="--together"):
        mode(function="fn", together=True)
    with pytest.raises(RunnerError, match="--method is for --url"):
        mode(function="fn", method="POST")
    with pytest.raises(RunnerError, match="--method TRACE"):
        mode(url="http://x/", method="TRACE")
    with pytest.raises(RunnerError, match="--payload/--method go with"):
        mode(stack="pclab", payload=Path("e.json"))


def test_function_names() -> None:
    assert loadgen.parse_function("fn") == ("fn", None)
    assert loadgen.parse_function("fn:live") == ("fn", "live")
    arn = "arn:aws:lambda:us-east-1:123456789012:function:fn"
    assert loadgen.parse_function(arn + ":3") == (arn, "3")
    assert loadgen.parse_function(arn) == (arn, None)
    for bad in ("fn:", ":live", "fn:a:b", "arn:aws:s3:::bucket"):
        with pytest.raises(RunnerError, match="--function"):
            loadgen.parse_function(bad)


def test_a_url_that_does_not_answer_is_refused_without_a_request() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(RunnerError, match=rf"does not answer .*127.0.0.1:{port}"):
        check_url(f"http://127.0.0.1:{port}/orders")
    with pytest.raises(RunnerError, match="http:// or https://"):
        check_url("localhost:4577/orders")


def test_the_cli_says_it_in_one_line_and_exits_non_zero() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pclab.cli", "run", "--function", "fn:", "--items", "2"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "pclab: error: --function fn:: give NAME or NAME:QUALIFIER (an alias such as live, or a "
        "version number), e.g. --function my-function:live"
    ]


def test_the_template_ships_with_the_package() -> None:
    text = loadgen.template_text()
    assert "FunctionNamePattern" in text and "SdkResponseMetadata.RequestId" in text
