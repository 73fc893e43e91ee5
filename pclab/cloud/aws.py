"""The boto3 clients the runner uses, from the usual AWS chain, pointed at AWS or the local cloud.

WHY a small bundle: every part of the runner needs a few clients built the same way (region,
endpoint, retry mode), and tests build the same bundle inside moto's ``mock_aws``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError

from pclab.cloud.endpoint import DEFAULT_TIMEOUT_SECONDS, EndpointWatch, request_timeouts
from pclab.cloud.errors import NO_CREDENTIALS, RunnerError, describe_aws_error

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_logs import CloudWatchLogsClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_stepfunctions import SFNClient
    from mypy_boto3_xray import XRayClient

# Adaptive retries ride out API throttling (GetExecutionHistory, BatchGetTraces) while polling;
# the endpoint watch ends them once the endpoint has been silent past its bound (endpoint.py).
_MAX_ATTEMPTS = 8


@dataclass(frozen=True)
class Clients:
    region: str
    endpoint_url: str | None
    cloudformation: CloudFormationClient
    stepfunctions: SFNClient
    xray: XRayClient
    logs: CloudWatchLogsClient
    lambda_: LambdaClient
    s3: S3Client
    cloudwatch: CloudWatchClient
    watch: EndpointWatch | None = None  # None: no bound (clients built elsewhere)


def make_clients(
    region: str | None = None,
    endpoint_url: str | None = None,
    *,
    credentials: tuple[str, str] | None = None,
    endpoint_timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> Clients:
    """Clients for one region; ``endpoint_url`` None lets boto3 read ``AWS_ENDPOINT_URL``.

    ``credentials`` (key id, secret) replace the usual chain: the demo's local cloud takes any.
    ``endpoint_timeout``: how long the endpoint may stay silent before calls raise
    :class:`~pclab.cloud.endpoint.EndpointLost`.
    Raises :class:`RunnerError` when no credentials or no region can be found, before any call.
    """
    key_id, secret = credentials or (None, None)
    try:
        session = boto3.session.Session(
            region_name=region, aws_access_key_id=key_id, aws_secret_access_key=secret
        )
    except BotoCoreError as error:  # e.g. a profile that does not exist
        raise RunnerError(describe_aws_error(error, "reading the AWS configuration")) from None
    if session.region_name is None:
        raise RunnerError(describe_aws_error(_no_region(), "choosing a region"))
    if session.get_credentials() is None:
        raise RunnerError(NO_CREDENTIALS)
    region_name = session.region_name
    url = endpoint_url or None  # None: boto3 reads AWS_ENDPOINT_URL itself
    shown_url = endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None
    watch = EndpointWatch(shown_url or f"AWS ({region_name})", endpoint_timeout)
    connect, read = request_timeouts(endpoint_timeout)
    config = Config(
        retries={"max_attempts": _MAX_ATTEMPTS, "mode": "adaptive"},
        connect_timeout=connect,
        read_timeout=read,
    )
    clients = Clients(
        region=region_name,
        endpoint_url=shown_url,
        cloudformation=session.client(
            "cloudformation", region_name=region_name, endpoint_url=url, config=config
        ),
        stepfunctions=session.client(
            "stepfunctions", region_name=region_name, endpoint_url=url, config=config
        ),
        xray=session.client("xray", region_name=region_name, endpoint_url=url, config=config),
        logs=session.client("logs", region_name=region_name, endpoint_url=url, config=config),
        lambda_=session.client("lambda", region_name=region_name, endpoint_url=url, config=config),
        s3=session.client("s3", region_name=region_name, endpoint_url=url, config=config),
        cloudwatch=session.client(
            "cloudwatch", region_name=region_name, endpoint_url=url, config=config
        ),
        watch=watch,
    )
    for client in (
        clients.cloudformation,
        clients.stepfunctions,
        clients.xray,
        clients.logs,
        clients.lambda_,
        clients.s3,
        clients.cloudwatch,
    ):
        watch.install(client)
    return clients


def _no_region() -> Exception:
    from botocore.exceptions import NoRegionError

    return NoRegionError()


def pages(
    call: Callable[..., Any], request: dict[str, Any], *, token: str = "nextToken"
) -> Iterator[Any]:
    """Every page of a paginated call: the reply's ``token`` goes into the next request.

    A generator, so a caller that has what it needs (progress, newest first) stops early.
    """
    next_token: str | None = None
    while True:
        page = call(**request, **({token: next_token} if next_token else {}))
        yield page
        next_token = page.get(token)
        if not next_token:
            return
