"""X-Ray filter expressions: AWS's documented examples parse; known traces give known answers."""

from __future__ import annotations

import pytest

from localcloud.queries.traces import FUNCTION, STATE_MACHINE, step_functions_trace
from localcloud.queries.traces import web_trace_with_dynamodb as web_trace
from pclab.localcloud.queries import FilterExpressionError, Trace, compile_filter

# Quoted from the X-Ray developer guide, "Use filter expressions", and the GetTraceSummaries API
# reference: every one must parse.
DOCUMENTED = [
    "responsetime > 5",
    "duration >= 5 AND duration <= 8",
    "ok",
    "!ok",
    "ok = false",
    "http.status != 200",
    "ok !partial duration <3",
    'http.url CONTAINS "/api/game/"',
    'user CONTAINS ""',
    'service("api.example.com") { fault }',
    "service() { fault }",
    'edge("api.example.com", "backend.example.com") { error }',
    'http.url BEGINSWITH "http://api.example.com/" AND http.url CONTAINS "/v2/"'
    ' AND !service("api.example.com")',
    "http.url AND responseTime > 2",
    'annotation.gameid = "817DL6VO"',
    "annotation.age",
    "!annotation.age",
    "annotation.age > 29",
    'service("random-name") { error }',
    'service(id(name: "random-name", type: "AWS::Lambda::Function")) { error }',
    'service(id(type: "AWS::Lambda::Function")) { error }',
    'service("data-plane") {root = true and fault = true}',
    'annotation.account = "12345"',
    'service("api.example.com")',
]


@pytest.mark.parametrize("expression", DOCUMENTED)
def test_documented_expressions_parse(expression: str) -> None:
    compile_filter(expression)


def matches(expression: str, documents: list[dict[str, object]]) -> bool:
    return compile_filter(expression).matches(Trace(documents))


def test_service_matches_any_node_of_that_name_and_id_narrows_by_type() -> None:
    trace = step_functions_trace()
    assert matches(f'service("{FUNCTION}")', trace)
    assert matches(f'service("{STATE_MACHINE}")', trace)
    assert not matches('service("someone-else")', trace)
    assert matches(f'service(id(name: "{FUNCTION}", type: "AWS::Lambda::Function"))', trace)
    assert not matches(f'service(id(name: "{FUNCTION}", type: "AWS::DynamoDB::Table"))', trace)
    assert matches('service(id(type: "AWS::StepFunctions::StateMachine"))', trace)


def test_service_braces_apply_to_that_services_segments() -> None:
    failing = step_functions_trace(function_error=True)
    # The function segment has the error, the AWS::Lambda service segment does not.
    assert matches(f'service("{FUNCTION}") {{ error }}', failing)
    assert matches(
        f'service(id(name: "{FUNCTION}", type: "AWS::Lambda::Function")) {{ error }}', failing
    )
    assert not matches(f'service(id(name: "{FUNCTION}", type: "AWS::Lambda")) {{ error }}', failing)
    assert not matches(f'service("{FUNCTION}") {{ error }}', step_functions_trace())
    # Simple keywords are trace level: the root (the state machine) did not fail.
    assert not matches("error", failing)
    assert matches("ok", failing)


def test_responsetime_is_the_root_segments_and_duration_the_whole_traces() -> None:
    trace = step_functions_trace(init=1.0, work=0.5)  # root: 1.7 s; Lambda service: 1.5 s
    assert matches("responsetime > 1.6 AND responsetime < 1.8", trace)
    assert matches("duration >= 1.7 AND duration < 1.71", trace)
    assert matches(
        f'service(id(name: "{FUNCTION}", type: "AWS::Lambda")) {{ responsetime > 1.4 }}', trace
    )
    assert not matches(
        f'service(id(name: "{FUNCTION}", type: "AWS::Lambda")) {{ responsetime > 1.6 }}', trace
    )
    warm = step_functions_trace(cold=False, work=0.5)
    assert not matches("responsetime > 1", warm)


def test_annotations_by_type_and_presence() -> None:
    cold, warm = step_functions_trace(cold=True), step_functions_trace(cold=False)
    assert matches("annotation.cold_start = true", cold)
    assert not matches("annotation.cold_start = true", warm)
    assert matches("annotation.cold_start = false", warm)
    assert matches('annotation.status = "SUCCEEDED"', cold)
    assert matches("annotation.attempt >= 1 AND annotation.attempt < 2", cold)
    assert matches("annotation[cold_start] = true", cold)
    # A string never equals a number annotation, nor a boolean a string.
    assert not matches('annotation.attempt = "1"', cold)
    assert not matches('annotation.cold_start = "true"', cold)
    assert matches("annotation.cold_start", cold)
    assert matches("!annotation.missing", cold)
    assert not matches("annotation.missing != 3", cold)  # a missing key matches no comparison


def test_boolean_keywords_fault_throttle_partial() -> None:
    assert matches("fault", step_functions_trace(state_machine_fault=True))
    assert not matches("fault", step_functions_trace())
    # throttle: any segment answered 429 (the Lambda service segment here)
    assert matches("throttle", step_functions_trace(throttled=True))
    assert matches(
        f'service(id(name: "{FUNCTION}", type: "AWS::Lambda")) {{ throttle }}',
        step_functions_trace(throttled=True),
    )
    assert matches("partial", step_functions_trace(in_progress=True))
    assert matches("!partial", step_functions_trace())


def test_keywords_and_operators_in_any_letter_case_and_juxtaposition_is_and() -> None:
    trace = step_functions_trace(init=1.0, work=0.5)
    assert matches("OK and NOT Fault", trace)
    assert matches("ok !partial duration <3", trace)
    assert not matches("ok !partial duration <1", trace)
    assert matches("fault OR responseTime > 1", trace)
    assert matches("(fault or ok) and !(throttle)", trace)


def test_edge_filter_applies_to_the_called_segment() -> None:
    trace = step_functions_trace(function_error=True)
    lambda_service = f'id(name: "{FUNCTION}", type: "AWS::Lambda")'
    function = f'id(name: "{FUNCTION}", type: "AWS::Lambda::Function")'
    assert matches(f'edge("{STATE_MACHINE}", "{FUNCTION}")', trace)
    assert matches(f"edge({lambda_service}, {function}) {{ error }}", trace)
    assert not matches(f'edge("{STATE_MACHINE}", {lambda_service}) {{ error }}', trace)
    assert not matches(f'edge("{FUNCTION}", "{STATE_MACHINE}")', trace)  # direction matters


def test_inferred_downstream_node_and_http_keywords() -> None:
    trace = web_trace(status=200, table_status=500)
    assert matches('service("scores") { fault }', trace)  # the inferred DynamoDB table
    assert matches('service(id(name: "scores", type: "AWS::DynamoDB::Table")) { inferred }', trace)
    assert matches('edge("api.example.com", "scores")', trace)
    assert not matches("fault", trace)  # handled downstream: not a trace-level fault
    assert matches(
        'http.url BEGINSWITH "http://api.example.com/" AND http.url CONTAINS "/v2/"', trace
    )
    assert matches('http.method = "POST" AND http.clientip = "192.0.2.1"', trace)
    assert matches("http.status = 200", trace)
    assert matches('user = "alice" AND user CONTAINS ""', trace)
    assert matches("http.url AND responseTime > 2", trace)
    assert matches("error", web_trace(status=404)) and not matches("fault", web_trace(status=404))
    assert matches("!ok", web_trace(status=503))


def test_recorded_local_cloud_trace() -> None:
    """A trace the local cloud recorded (tests/analysis/data/localcloud/traces.json)."""
    import json
    from pathlib import Path

    path = Path(__file__).parents[2] / "analysis" / "data" / "localcloud" / "traces.json"
    recorded = json.loads(path.read_text())["Traces"][0]
    documents = [s["Document"] for s in recorded["Segments"]]  # JSON text, as stored
    trace = Trace(documents)
    assert trace.root is not None and trace.root.service.type == "AWS::StepFunctions::StateMachine"
    assert compile_filter('annotation.status = "SUCCEEDED" AND !fault').matches(trace)
    assert compile_filter('service(id(type: "AWS::Lambda::Function"))').matches(trace)


@pytest.mark.parametrize(
    ("expression", "position", "words"),
    [
        ("responsetime >", 14, "end of the expression"),
        ('service("x" { fault }', 12, "'{'"),
        ("(ok", 3, "end of the expression"),
        ("ok AND", 6, "end of the expression"),
        ("duration $ 3", 9, "'$'"),
        ("annotation.x = foo", 15, "not a value"),
        ("bogus = 3", 0, "unknown keyword"),
        ('responsetime CONTAINS "x"', 0, "does not apply"),
        ('duration = "5"', 0, "compare a number keyword with a number"),
        ('service("x") { annotation.a = 1 }', 15, "cannot be used inside service"),
        ("root", 0, "only inside service"),
        ('rootcause.fault.service { name = "Auth" }', 0, "not supported by the local cloud"),
        ('group.name = "high_response_time"', 0, "not supported by the local cloud"),
        ("   ", 0, "empty"),
    ],
)
def test_malformed_expressions_name_the_problem_and_position(
    expression: str, position: int, words: str
) -> None:
    with pytest.raises(FilterExpressionError) as caught:
        compile_filter(expression)
    assert caught.value.position == position
    assert words in caught.value.message
    assert "\n" not in caught.value.message
