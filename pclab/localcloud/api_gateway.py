"""HTTP APIs served on localhost: a request runs the route's function with API Gateway's event.

An HTTP API deployed into the local cloud (``AWS::ApiGatewayV2::Api``, as SAM makes for an
``HttpApi`` event) answers at ``http://localhost:<port>/_aws/execute-api/<api-id>/<stage>/<path>``
(no ``<stage>/`` for the ``$default`` stage), or with the Host header
``<api-id>.execute-api.localhost``. The route is chosen as API Gateway does (exact path, then
greedy ``{proxy+}``, then ``$default``); its Lambda proxy integration's function (with the alias or
version its URI names) is invoked through the invocation seam with the event of the integration's
payload format (2.0, or 1.0), and the function's answer becomes the HTTP response as API Gateway
maps it. Nothing here imports moto: routes come from :func:`pclab.localcloud.moto.http_api_route`.
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any, Protocol
from urllib.parse import parse_qsl

from pclab.localcloud.invocation import LambdaServiceError
from pclab.localcloud.lambda_control import LambdaControlPlane

PREFIX = "/_aws/execute-api/"
_HOST = re.compile(r"^(?P<api>[a-z0-9]+)\.execute-api\.localhost(?::\d+)?$")
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class Route(Protocol):
    """The route a request takes (:class:`pclab.localcloud.moto.HttpApiRoute`)."""

    @property
    def api_id(self) -> str: ...
    @property
    def stage(self) -> str: ...
    @property
    def route_key(self) -> str: ...
    @property
    def function_arn(self) -> str: ...
    @property
    def payload_format_version(self) -> str: ...
    @property
    def path_parameters(self) -> dict[str, str]: ...
    @property
    def raw_path(self) -> str: ...


RouteFinder = Callable[[str, str, str], "Route | str"]


class HttpApis:
    """WSGI middleware: requests for an HTTP API here, everything else to ``app``."""

    def __init__(self, app: WsgiApp, control: LambdaControlPlane, routes: RouteFinder) -> None:
        self.app = app
        self.control = control
        self.routes = routes

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        host = _HOST.match(environ.get("HTTP_HOST", ""))
        if host is not None:
            api_id, rest = host["api"], path
        elif path.startswith(PREFIX):
            api_id, _, rest = path[len(PREFIX) :].partition("/")
            rest = "/" + rest
        else:
            return self.app(environ, start_response)
        status, headers, body = self.serve(api_id, rest, environ)
        start_response(status, headers)
        return [body]

    def serve(
        self, api_id: str, path: str, environ: dict[str, Any]
    ) -> tuple[str, list[tuple[str, str]], bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        route = self.routes(api_id, method, path)
        if isinstance(route, str):  # API Gateway's own answer: no such API, stage or route
            code = 404 if route == "Not Found" else 500
            return _message(code, route)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        make = _event_v2 if route.payload_format_version == "2.0" else _event_v1
        event = make(route, method, environ, body)
        # HTTP APIs answer every request with its id (the event's requestContext.requestId)
        marker = [("apigw-requestid", json.loads(event)["requestContext"]["requestId"])]
        try:
            result = self.control.invoke("us-east-1", route.function_arn, None, event)
        except LambdaServiceError:  # a throttle included: the integration failed
            status, headers, body = _message(500)
            return status, headers + marker, body
        status, headers, body = (
            _message(500)
            if result.function_error
            else _response(result.payload, route.payload_format_version)
        )
        return status, headers + marker, body


def _message(code: int, text: str = "Internal Server Error") -> tuple[str, list[Any], bytes]:
    body = json.dumps({"message": text}).encode()
    return f"{code} {text}", [("Content-Type", "application/json")], body


def _headers(environ: dict[str, Any]) -> dict[str, str]:
    found = {
        k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")
    }
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            found[key.replace("_", "-").lower()] = environ[key]
    return found


def _body_fields(body: bytes, headers: dict[str, str]) -> tuple[str | None, bool]:
    if not body:
        return None, False
    text_types = ("json", "text", "xml", "form-urlencoded", "javascript")
    if any(kind in headers.get("content-type", "") for kind in text_types):
        try:
            return body.decode(), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(body).decode(), True


def _context(route: Route, method: str, environ: dict[str, Any], path: str) -> dict[str, Any]:
    now = time.time()
    return {
        "accountId": "123456789012",
        "apiId": route.api_id,
        "domainName": f"{route.api_id}.execute-api.localhost",
        "domainPrefix": route.api_id,
        "requestId": str(uuid.uuid4()),
        "stage": route.stage,
        "requestTimeEpoch" if route.payload_format_version == "1.0" else "timeEpoch": int(
            now * 1000
        ),
        "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
        "http": {
            "method": method,
            "path": path,
            "protocol": environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
            "sourceIp": environ.get("REMOTE_ADDR", "127.0.0.1"),
            "userAgent": environ.get("HTTP_USER_AGENT", ""),
        },
    }


def _event_v2(route: Route, method: str, environ: dict[str, Any], body: bytes) -> bytes:
    """Payload format 2.0 (HTTP APIs' default)."""
    headers = _headers(environ)
    query = environ.get("QUERY_STRING", "")
    pairs = parse_qsl(query, keep_blank_values=True)
    parameters: dict[str, str] = {}
    for key, value in pairs:
        parameters[key] = f"{parameters[key]},{value}" if key in parameters else value
    text, encoded = _body_fields(body, headers)
    path = route.raw_path if route.stage == "$default" else f"/{route.stage}{route.raw_path}"
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": path,
        "rawQueryString": query,
        "headers": {k: v for k, v in headers.items() if k != "cookie"},
        "requestContext": {**_context(route, method, environ, path), "routeKey": route.route_key},
        "isBase64Encoded": encoded,
    }
    if "cookie" in headers:
        event["cookies"] = [c.strip() for c in headers["cookie"].split(";")]
    if parameters:
        event["queryStringParameters"] = parameters
    if route.path_parameters:
        event["pathParameters"] = route.path_parameters
    if text is not None:
        event["body"] = text
    return json.dumps(event).encode()


def _event_v1(route: Route, method: str, environ: dict[str, Any], body: bytes) -> bytes:
    """Payload format 1.0 (REST APIs' proxy event, and HTTP APIs that ask for it)."""
    headers = _headers(environ)
    pairs = parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    multi: dict[str, list[str]] = {}
    for key, value in pairs:
        multi.setdefault(key, []).append(value)
    text, encoded = _body_fields(body, headers)
    resource = route.route_key.partition(" ")[2] or route.raw_path
    context = _context(route, method, environ, route.raw_path)
    context.update({"httpMethod": method, "path": route.raw_path, "resourcePath": resource})
    event = {
        "version": "1.0",
        "resource": resource,
        "path": route.raw_path,
        "httpMethod": method,
        "headers": headers or None,
        "multiValueHeaders": {k: [v] for k, v in headers.items()} or None,
        "queryStringParameters": {k: v[-1] for k, v in multi.items()} or None,
        "multiValueQueryStringParameters": multi or None,
        "requestContext": context,
        "pathParameters": route.path_parameters or None,
        "stageVariables": None,
        "body": text,
        "isBase64Encoded": encoded,
    }
    return json.dumps(event).encode()


def _response(payload: bytes, version: str) -> tuple[str, list[tuple[str, str]], bytes]:
    """API Gateway's mapping of the function's answer to the HTTP response."""
    try:
        answer = json.loads(payload or b"null")
    except ValueError:
        answer = None if version == "1.0" else payload.decode(errors="replace")
    if not (isinstance(answer, dict) and "statusCode" in answer):
        if version == "1.0":  # 1.0 requires the proxy response shape
            return _message(502, "Internal server error")
        # 2.0 without a statusCode: 200 and the answer as JSON
        return "200 OK", [("Content-Type", "application/json")], json.dumps(answer).encode()
    code = int(answer["statusCode"])
    headers = [(str(k), str(v)) for k, v in (answer.get("headers") or {}).items()]
    for key, values in (answer.get("multiValueHeaders") or {}).items():
        headers += [(str(key), str(v)) for v in values]
    headers += [("Set-Cookie", str(c)) for c in answer.get("cookies") or []]
    if not any(k.lower() == "content-type" for k, _ in headers):
        headers.append(("Content-Type", "application/json"))
    body = answer.get("body")
    data = b"" if body is None else str(body).encode()
    if answer.get("isBase64Encoded") and body is not None:
        data = base64.b64decode(str(body))
    return f"{code} {_reason(code)}", headers, data


def _reason(code: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return "Unknown"
