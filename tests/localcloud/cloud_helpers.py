"""Shared helpers for the local-cloud control-plane tests: a real local cloud over real HTTP.

The cloud runs in the test process (moto's state is per process, so one at a time), on a free
port, and is reached with boto3 exactly like AWS. ``RecordingLayer`` stands in for the execution
environments only where a test checks what crosses the invocation seam; the execution layer's own
behaviour is tested in tests/localcloud/environments and end to end in test_deploy_e2e.py.
"""

from __future__ import annotations

import io
import json
import threading
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from pclab.localcloud.invocation import (
    FunctionSpec,
    InvokeRequest,
    InvokeResult,
    LambdaServiceError,
    ProvisionedStatus,
)
from pclab.localcloud.server import LocalCloud

REGION = "us-east-1"
ACCOUNT = "123456789012"


class Cloud:
    def __init__(self, cloud: LocalCloud) -> None:
        self.cloud = cloud
        self.url = cloud.url

    def client(self, service: str, *, validate: bool = True) -> Any:
        """A boto3 client; ``validate=False`` lets bad values reach the server, as other SDKs do."""
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(
                retries={"total_max_attempts": 1, "mode": "standard"}, parameter_validation=validate
            ),
        )

    @property
    def control(self) -> Any:
        return self.cloud.control


def running_cloud() -> Iterator[Cloud]:
    """A local cloud without execution environments, for one test module (see conftest.py)."""
    local = LocalCloud(0, with_execution_layer=False)  # port 0: the kernel picks, no race
    local.start()
    try:
        yield Cloud(local)
    finally:
        local.stop()


def handler_zip(source: str = "def handler(event, context):\n    return event\n") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", source)
    return buffer.getvalue()


@dataclass
class Function:
    name: str
    arn: str
    version: str
    alias: str = "live"


def make_function(cloud: Cloud, *, alias: bool = True, tracing: bool = False) -> Function:
    """A function with one published version and (optionally) a ``live`` alias on it."""
    iam = cloud.client("iam")
    lam = cloud.client("lambda")
    name = f"fn-{uuid.uuid4().hex[:10]}"
    role = iam.create_role(RoleName=f"role-{name}", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    created = lam.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=role,
        Handler="app.handler",
        Code={"ZipFile": handler_zip()},
        TracingConfig={"Mode": "Active" if tracing else "PassThrough"},
    )
    version = lam.publish_version(FunctionName=name)["Version"]
    if alias:
        lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
    return Function(name, created["FunctionArn"], version)


def error_of(call: Callable[[], Any]) -> tuple[int, str, str]:
    """(HTTP status, error code, message) of a call that must fail."""
    with pytest.raises(ClientError) as caught:
        call()
    response = caught.value.response
    return (
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Code"],
        response["Error"]["Message"],
    )


@dataclass
class RecordingLayer:
    """Stands in for the execution environments: records what crosses the seam, answers as told.

    ``answers`` is consumed in order (an InvokeResult to return or a LambdaServiceError to
    raise); when empty, the call is echoed as the handler would echo its event.
    """

    answers: list[InvokeResult | LambdaServiceError] = field(default_factory=list)
    invocations: list[InvokeRequest] = field(default_factory=list)
    reserved: dict[str, int | None] = field(default_factory=dict)
    provisioned: dict[tuple[str, str], tuple[FunctionSpec, int]] = field(default_factory=dict)
    status: ProvisionedStatus = "READY"
    deleted_functions: list[str] = field(default_factory=list)
    account_limit: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    respond: Callable[[InvokeRequest], InvokeResult] | None = None  # instead of echoing

    def invoke(self, request: InvokeRequest) -> InvokeResult:
        with self.lock:
            self.invocations.append(request)
            answer = self.answers.pop(0) if self.answers else None
        if isinstance(answer, LambdaServiceError):
            raise answer
        if answer is not None:
            return answer
        if self.respond is not None:
            return self.respond(request)
        return InvokeResult(
            200, request.payload, request.spec.version, request_id=str(uuid.uuid4())
        )

    def set_reserved_concurrency(self, function_name: str, reserved: int | None) -> None:
        self.reserved[function_name] = reserved

    def set_account_limit(self, limit: int) -> None:
        self.account_limit = limit

    def put_provisioned_concurrency(self, spec: FunctionSpec, qualifier: str, count: int) -> None:
        self.provisioned[(spec.function_name, qualifier)] = (spec, count)

    def delete_provisioned_concurrency(self, function_name: str, qualifier: str) -> None:
        self.provisioned.pop((function_name, qualifier), None)

    def provisioned_status(
        self, function_name: str, qualifier: str
    ) -> tuple[ProvisionedStatus, int, str | None]:
        _, count = self.provisioned[(function_name, qualifier)]
        ready = count if self.status == "READY" else 0
        return self.status, ready, "init failed" if self.status == "FAILED" else None

    def delete_function(self, function_name: str) -> None:
        self.deleted_functions.append(function_name)

    def shutdown(self) -> None:
        pass


def throttle() -> LambdaServiceError:
    return LambdaServiceError(
        "TooManyRequestsException",
        "Rate Exceeded.",
        status=429,
        reason="ReservedFunctionConcurrentInvocationLimitExceeded",
    )


def json_payload(response: dict[str, Any]) -> Any:
    return json.loads(response["Payload"].read())
