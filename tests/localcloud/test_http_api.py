"""HTTP APIs served on localhost: routes, API Gateway's events (2.0 and 1.0) and responses."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from localcloud.cloud_helpers import Cloud, RecordingLayer, make_function
from pclab.localcloud.invocation import InvokeRequest, InvokeResult


def openapi(function_arn: str, version: str) -> str:
    uri = (
        f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{function_arn}/invocations"
    )
    integration = {"type": "aws_proxy", "httpMethod": "POST", "uri": uri}
    integration["payloadFormatVersion"] = version
    return json.dumps(
        {
            "openapi": "3.0.1",
            "info": {"title": "t", "version": "1"},
            "paths": {
                "/orders/{id}": {"get": {"x-amazon-apigateway-integration": integration}},
            },
        }
    )


@pytest.fixture
def layer(cloud: Cloud) -> Iterator[RecordingLayer]:
    def respond(request: InvokeRequest) -> InvokeResult:
        answer = {"statusCode": 202, "headers": {"x-seen": "yes"}, "body": "ok"}
        return InvokeResult(200, json.dumps(answer).encode(), request.spec.version)

    recording = RecordingLayer(respond=respond)
    cloud.control.attach_execution_layer(recording)
    try:
        yield recording
    finally:
        cloud.control.attach_execution_layer(None)


def api(cloud: Cloud, version: str, stage: str) -> tuple[str, str]:
    fn = make_function(cloud)
    gateway = cloud.client("apigatewayv2")
    api_id = gateway.create_api(Name="t", ProtocolType="HTTP")["ApiId"]
    gateway.reimport_api(ApiId=api_id, Body=openapi(f"{fn.arn}:live", version))
    gateway.create_stage(ApiId=api_id, StageName=stage)
    return api_id, fn.name


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_payload_2_on_the_default_stage(cloud: Cloud, layer: RecordingLayer) -> None:
    api_id, name = api(cloud, "2.0", "$default")
    status, headers, body = get(
        f"{cloud.url}/_aws/execute-api/{api_id}/orders/42?a=1&a=2", {"Cookie": "c=1; d=2"}
    )
    assert (status, headers["x-seen"], body) == (202, "yes", b"ok")
    request = layer.invocations[-1]
    assert (request.spec.function_name, request.qualifier) == (name, "live")
    event: dict[str, Any] = json.loads(request.payload)
    assert event["version"] == "2.0"
    assert event["routeKey"] == "GET /orders/{id}"
    assert (event["rawPath"], event["rawQueryString"]) == ("/orders/42", "a=1&a=2")
    assert event["queryStringParameters"] == {"a": "1,2"}
    assert event["pathParameters"] == {"id": "42"}
    assert event["cookies"] == ["c=1", "d=2"]
    context = event["requestContext"]
    assert (context["apiId"], context["stage"], context["http"]["method"]) == (
        api_id,
        "$default",
        "GET",
    )
    # no route: API Gateway's own 404, the function is not called
    calls = len(layer.invocations)
    assert get(f"{cloud.url}/_aws/execute-api/{api_id}/nothing")[0] == 404
    assert get(f"{cloud.url}/_aws/execute-api/nosuchapi/orders/1")[0] == 404
    assert len(layer.invocations) == calls


def test_payload_1_on_a_named_stage_by_host(cloud: Cloud, layer: RecordingLayer) -> None:
    api_id, _ = api(cloud, "1.0", "prod")
    host = {"Host": f"{api_id}.execute-api.localhost"}
    status, _, body = get(f"{cloud.url}/prod/orders/7?x=1", host)
    assert (status, body) == (202, b"ok")
    event = json.loads(layer.invocations[-1].payload)
    assert (event["httpMethod"], event["path"], event["resource"]) == (
        "GET",
        "/orders/7",
        "/orders/{id}",
    )
    assert event["multiValueQueryStringParameters"] == {"x": ["1"]}
    assert event["requestContext"]["stage"] == "prod"
    assert get(f"{cloud.url}/orders/7", host)[0] == 404  # the stage is part of the path
