"""The Lambda API routes the local cloud answers itself, in front of moto's server.

moto has no route for provisioned concurrency or account settings, its concurrency rules differ
from Lambda's, and its Invoke cannot run code without Docker. A small WSGI layer takes these
requests (recognised by their path and the ``lambda`` SigV4 credential scope) to the
:class:`~pclab.localcloud.lambda_control.LambdaControlPlane`; everything else goes to moto.
Responses use Lambda's REST-JSON shapes: errors carry ``x-amzn-ErrorType`` and a ``message``,
Invoke carries ``X-Amz-Executed-Version``, ``X-Amz-Function-Error``, ``X-Amz-Log-Result``.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs, unquote

from pclab.localcloud.invocation import LambdaServiceError
from pclab.localcloud.lambda_control import LambdaControlPlane

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

_FN = r"(?P<fn>[^/]+)"
_ROUTES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(rf"^/2019-09-30/functions/{_FN}/provisioned-concurrency/?$"), "pc"),
    (re.compile(r"^/2016-08-19/account-settings/?$"), "account"),
    (re.compile(rf"^/(?:2017-10-31|2019-09-30)/functions/{_FN}/concurrency/?$"), "concurrency"),
    (re.compile(rf"^/2015-03-31/functions/{_FN}/invocations/?$"), "invoke"),
]
_STATUS_TEXT = {
    200: "OK",
    202: "Accepted",
    204: "No Content",
    400: "Bad Request",
    404: "Not Found",
    409: "Conflict",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
}


def _credential_scope(environ: dict[str, Any]) -> tuple[str | None, str | None]:
    """(service, region) from a SigV4 Authorization header."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    match = re.search(r"Credential=[^/]+/\d{8}/(?P<region>[^/]+)/(?P<service>[^/]+)/", auth)
    if not match:
        return None, None
    return match["service"], match["region"]


class LambdaApi:
    """WSGI middleware: the Lambda routes above, moto for the rest."""

    def __init__(
        self,
        moto_app: WsgiApp,
        control: LambdaControlPlane,
        *,
        before_service: dict[str, Callable[[], None]] | None = None,
    ) -> None:
        self.moto_app = moto_app
        self.control = control
        # per SigV4 service name, something to do before moto serves its first request
        self.before_service = before_service or {}

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/moto-api/reset" and environ.get("REQUEST_METHOD") == "POST":
            self.control.reset()  # moto forgets its functions: the control plane must too
        service, region = _credential_scope(environ)
        prepare = self.before_service.get(service or "")
        if prepare is not None:
            prepare()
        if service == "lambda":
            for pattern, kind in _ROUTES:
                match = pattern.match(path)
                if match:
                    return self._handle(kind, match, environ, region or "us-east-1", start_response)
        return self.moto_app(environ, start_response)

    # ------------------------------------------------------------------ plumbing
    @staticmethod
    def _body(environ: dict[str, Any]) -> bytes:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        stream = environ["wsgi.input"]
        return bytes(stream.read(length)) if length else b""

    @staticmethod
    def _reply(
        start_response: Callable[..., Any],
        status: int,
        body: bytes,
        headers: dict[str, str] | None = None,
    ) -> list[bytes]:
        request_id = str(uuid.uuid4())
        all_headers = {
            "Content-Type": "application/json",
            "x-amzn-RequestId": request_id,
            **(headers or {}),
            "Content-Length": str(len(body)),
        }
        start_response(f"{status} {_STATUS_TEXT.get(status, 'OK')}", list(all_headers.items()))
        return [body]

    def _json(self, start_response: Callable[..., Any], status: int, document: Any) -> list[bytes]:
        body = b"" if document is None else json.dumps(document).encode("utf-8")
        return self._reply(start_response, status, body)

    def _error(self, start_response: Callable[..., Any], error: LambdaServiceError) -> list[bytes]:
        document: dict[str, Any] = {"Type": "User", "message": error.message}
        headers = {"x-amzn-ErrorType": error.code}
        if error.reason:
            document["Reason"] = error.reason
        if error.retry_after_seconds is not None:
            document["retryAfterSeconds"] = str(error.retry_after_seconds)
            headers["Retry-After"] = str(error.retry_after_seconds)
        if error.status >= 500:
            document["Type"] = "Service"
        body = json.dumps(document).encode("utf-8")
        return self._reply(start_response, error.status, body, headers)

    # ------------------------------------------------------------------ routes
    def _handle(
        self,
        kind: str,
        match: re.Match[str],
        environ: dict[str, Any],
        region: str,
        start_response: Callable[..., Any],
    ) -> list[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        query = {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        fn = unquote(match.groupdict().get("fn") or "")
        control = self.control
        try:
            if kind == "invoke" and method == "POST":
                return self._invoke(fn, query, environ, region, start_response)
            if kind == "account" and method == "GET":
                return self._json(start_response, 200, control.get_account_settings(region))
            if kind == "concurrency":
                if method == "PUT":
                    value = json.loads(self._body(environ) or b"{}").get(
                        "ReservedConcurrentExecutions"
                    )
                    reserved = control.put_function_concurrency(region, fn, value)
                    return self._json(
                        start_response, 200, {"ReservedConcurrentExecutions": reserved}
                    )
                if method == "GET":
                    current = control.get_function_concurrency(region, fn)
                    body = {} if current is None else {"ReservedConcurrentExecutions": current}
                    return self._json(start_response, 200, body)
                if method == "DELETE":
                    control.delete_function_concurrency(region, fn)
                    return self._reply(start_response, 204, b"")
            if kind == "pc":
                qualifier = query.get("Qualifier")
                if method == "GET" and query.get("List") == "ALL":
                    configs = control.list_provisioned_concurrency(region, fn)
                    return self._json(
                        start_response, 200, {"ProvisionedConcurrencyConfigs": configs}
                    )
                if method == "PUT":
                    value = json.loads(self._body(environ) or b"{}").get(
                        "ProvisionedConcurrentExecutions"
                    )
                    body = control.put_provisioned_concurrency(region, fn, qualifier, value)
                    return self._json(start_response, 202, body)
                if method == "GET":
                    return self._json(
                        start_response,
                        200,
                        control.get_provisioned_concurrency(region, fn, qualifier),
                    )
                if method == "DELETE":
                    control.delete_provisioned_concurrency(region, fn, qualifier)
                    return self._reply(start_response, 204, b"")
        except LambdaServiceError as error:
            return self._error(start_response, error)
        except json.JSONDecodeError:
            return self._error(
                start_response,
                LambdaServiceError(
                    "InvalidRequestContentException",
                    "Could not parse request body into json",
                    status=400,
                ),
            )
        return self._error(
            start_response,
            LambdaServiceError(
                "InvalidParameterValueException", f"Unsupported method {method}", status=400
            ),
        )

    def _invoke(
        self,
        fn: str,
        query: dict[str, str],
        environ: dict[str, Any],
        region: str,
        start_response: Callable[..., Any],
    ) -> list[bytes]:
        invocation_type = environ.get("HTTP_X_AMZ_INVOCATION_TYPE", "RequestResponse")
        if invocation_type not in ("RequestResponse", "Event", "DryRun"):
            raise LambdaServiceError(
                "InvalidParameterValueException",
                f"Unsupported invocation type {invocation_type}",
                status=400,
            )
        log_type = "Tail" if environ.get("HTTP_X_AMZ_LOG_TYPE") == "Tail" else "None"
        result = self.control.invoke(
            region,
            fn,
            query.get("Qualifier"),
            self._body(environ),
            trace_header=environ.get("HTTP_X_AMZN_TRACE_ID"),
            log_type=log_type,  # type: ignore[arg-type]
            invocation_type=invocation_type,
        )
        headers = {"X-Amz-Executed-Version": result.executed_version}
        if result.function_error:
            headers["X-Amz-Function-Error"] = result.function_error
        if result.log_result and log_type == "Tail":
            headers["X-Amz-Log-Result"] = result.log_result
        if result.request_id:
            headers["x-amzn-RequestId"] = result.request_id
        return self._reply(start_response, result.status_code, result.payload, headers)
