"""``pclab run`` on something other than the sample's stack: ``--function`` and ``--url``.

The options are checked here, before anything is deployed or sent (one line naming the problem
and the fix); then :mod:`pclab.cloud.loadgen` aims the load generator at the function and the
ordinary runner runs it, or :mod:`pclab.cloud.http_run` sends HTTP load with locust.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from rich.console import Console

from pclab.cloud import loadgen
from pclab.cloud.aws import make_clients
from pclab.cloud.endpoint import EndpointLost
from pclab.cloud.errors import RunnerError
from pclab.cloud.http_run import UrlOptions, check_url, run_url
from pclab.cloud.run import RunOptions, RunResult, run

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def run_mode(
    *,
    stack: str | None,
    function: str | None,
    url: str | None,
    together: bool,
    payload: Path | None,
    method: str | None,
) -> str:
    """ "stack", "function" or "url"; a :class:`RunnerError` for a combination that cannot work."""
    if stack and (function or url):
        raise RunnerError(
            "--stack runs the sample's state machines; --function/--url measure one function: "
            "give one of them"
        )
    if not (stack or function or url):
        raise RunnerError(
            "say what to measure: --stack NAME (the sample's stack), --function NAME[:QUALIFIER] "
            "or --url URL"
        )
    if stack:
        if payload is not None or method is not None:
            raise RunnerError("--payload/--method go with --function or --url, not --stack")
        return "stack"
    if together:
        raise RunnerError(
            "--together runs the sample's state machines at once: use it with --stack"
        )
    if function:
        loadgen.parse_function(function)
    if url is None:
        if method is not None:
            raise RunnerError("--method is for --url (HTTP); --function invokes the function")
        return "function"
    if method is not None and method.upper() not in METHODS:
        raise RunnerError(f"--method {method}: give one of {', '.join(METHODS)}")
    return "url"


def read_payload(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise RunnerError(f"--payload {path} cannot be read: {error}") from None


def run_function(
    options: RunOptions, function: str, payload: Path | None, console: Console
) -> RunResult:
    """Resolve the function (it must exist), make sure the load generator is deployed, aim it
    at the function, and run as for the sample's stack."""
    event = loadgen.payload_document(read_payload(payload), str(payload))
    clients = make_clients(
        options.region, options.endpoint_url, endpoint_timeout=options.endpoint_timeout
    )
    try:
        target = loadgen.resolve_function(clients, function)
        with console.status(f"Load generator stack {loadgen.STACK_NAME}") as status:
            deployed = loadgen.ensure(clients, show=status.update)
    except EndpointLost as lost:
        raise RunnerError(str(lost)) from None
    console.print(
        f"Measuring {target.alias_arn} with the load generator {loadgen.STACK_NAME} "
        f"in {loadgen.where(clients)}"
    )
    stack = loadgen.function_stack(clients, target, deployed)
    aimed = replace(
        options,
        stack=loadgen.STACK_NAME,
        run_input=loadgen.load_input(options.run_input, target, event),
    )
    return run(aimed, console, clients, stack=stack)


def run_on_url(
    options: RunOptions,
    url: str,
    function: str | None,
    payload: Path | None,
    method: str | None,
    console: Console,
) -> RunResult:
    """HTTP load on ``url``; with ``function``, that function's REPORT lines and metrics too."""
    check_url(url)  # before anything else: a URL that does not answer is the likeliest mistake
    body = read_payload(payload)
    clients = None
    target = None
    if function:
        clients = make_clients(
            options.region, options.endpoint_url, endpoint_timeout=options.endpoint_timeout
        )
        try:
            target = loadgen.resolve_function(clients, function)
        except EndpointLost as lost:
            raise RunnerError(str(lost)) from None
    chosen = (method or ("POST" if body is not None else "GET")).upper()
    headers = {"Content-Type": "application/json"} if body is not None else {}
    url_options = UrlOptions(
        url=url,
        run_input=options.run_input,
        out_dir=options.out_dir,
        target=target,
        method=chosen,
        body=body,
        headers=headers,
        late_sources=options.late_sources,
    )
    return run_url(url_options, console, clients)
